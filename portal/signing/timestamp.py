"""RFC 3161 time-stamps (rfc3161-client): asked of the configured TSA for the office's own seals
(XAdES-T), and checked wherever a signature carries one."""

from __future__ import annotations

from datetime import datetime

import requests
from asn1crypto import cms, tsp
from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    TimestampRequestBuilder,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from portal.ops.request_ids import outgoing_headers


class TimestampFailed(RuntimeError):
    pass


def _verifier(anchors: list[bytes], request: object | None = None) -> object:
    builder = VerifierBuilder.from_request(request) if request is not None else VerifierBuilder()
    for der in anchors:
        builder = builder.add_root_certificate(x509.load_der_x509_certificate(der))
    return builder.build()


def stamp(url: str, data: bytes, anchors: list[bytes], timeout: float = 10) -> bytes:
    """A verified time-stamp token (DER) over `data` from the TSA at `url`."""
    request = TimestampRequestBuilder(data=data, hash_algorithm=HashAlgorithm.SHA256).build()
    try:
        answer = requests.post(url, data=request.as_bytes(), timeout=timeout,
                               headers={"Content-Type": "application/timestamp-query", **outgoing_headers()})
        answer.raise_for_status()
        response = decode_timestamp_response(answer.content)
    except (requests.RequestException, ValueError) as exc:
        raise TimestampFailed(f"the time-stamping authority did not answer: {exc}") from exc
    if int(response.status) not in (0, 1):
        raise TimestampFailed(f"the time-stamping authority refused: status {response.status}")
    try:
        _verifier(anchors, request).verify_message(response, data)  # type: ignore[attr-defined]
    except VerificationError as exc:
        raise TimestampFailed(f"the time-stamp does not verify: {exc}") from exc
    return bytes(response.time_stamp_token())


def verify_token(token: bytes, data: bytes, anchors: list[bytes]) -> datetime:
    """The time a token vouches for `data`, after checking its signature, imprint and TSA certificate."""
    try:
        wrapped = tsp.TimeStampResp({"status": {"status": "granted"},
                                     "time_stamp_token": cms.ContentInfo.load(token)}).dump()
        response = decode_timestamp_response(wrapped)
        _verifier(anchors).verify_message(response, data)  # type: ignore[attr-defined]
    except (ValueError, VerificationError) as exc:
        raise TimestampFailed(str(exc)) from exc
    return response.tst_info.gen_time
