"""The cryptographic algorithms the office accepts in a signed XML message: one policy for the residents'
XAdES signatures (`verify`) and for the document systems' WS-Security requests (`epuap_pull.wssec`), so
that the two cannot drift apart. ETSI TS 119 312 decides what is still strong enough: the SHA-2 family
with RSA or ECDSA; SHA-1 is refused everywhere.

A leaf module (no Flask, no other portal import) so that the SOAP door uses it without the signing flow.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

SIGNATURE_METHODS = frozenset({
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
})
# Digest method → the hash that computes it (XAdES recomputes the signing certificate's digest itself).
DIGEST_METHODS: dict[str, Callable[..., Any]] = {
    "http://www.w3.org/2001/04/xmlenc#sha256": hashlib.sha256,
    "http://www.w3.org/2001/04/xmldsig-more#sha384": hashlib.sha384,
    "http://www.w3.org/2001/04/xmlenc#sha512": hashlib.sha512,
}
