"""The office's verification policy, from its settings and trust anchors.

Apart from `service.py` so that the command line's `okienko signature verify` and `receipt verify` build
it without importing the signing flow (forms, the TpSigning5 client, residents).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import current_app

from portal.signing import trust, verify


def policy(**changes: Any) -> verify.Policy:
    """The office's verification policy, from its settings; `changes` override single fields
    (a tighter size cap for a door, extra anchors for the command line)."""
    c = current_app.config
    return replace(verify.Policy(trust_anchors=tuple(trust.anchors()), revocation_mode=c["REVOCATION_MODE"],
                                 trusted_profile_seals=trust.trusted_profile_seals(), fetching=trust.fetching(),
                                 min_rsa_bits=int(c["MIN_RSA_BITS"])), **changes)
