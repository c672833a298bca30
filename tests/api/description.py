"""The API description as schemathesis reads it, and the checks every answer must pass."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

DESCRIPTION = Path(__file__).resolve().parents[2] / "portal" / "api" / "openapi.yaml"
# No 5xx; a status code, a media type and a body the description promises for the operation.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
WEBHOOK_SECRET = "s" * 48

schema = schemathesis.openapi.from_path(DESCRIPTION)
