"""The sandbox e-Doręczenia service (mounted at /edoreczenia): the User Agent API of spec 3.0.8.1 for the
office's mailbox, OAuth 2.0 client credentials, the BAE address search, evidences sealed by the provider,
the 14-day receipt fiction on a movable sandbox clock, callbacks, faults, and the residents' box pages.

The contract it follows is written in the module docstrings here and in docs (sandbox section); where it
differs from the spec on purpose:
- `GET .../messages/{id}?format=full` carries the attachments' content (base64), as `fullExtended` does;
- `GET .../messages/{id}/attachments/{attachmentId}` answers with the bytes (application/octet-stream), and
  with the spec's Attachment JSON only to a client whose Accept names application/json;
- faults (`/edoreczenia/sandbox/faults`) hit the UA API and the BAE search, not the token endpoint;
- a message without attachments has the SHA3-256 of its text as the evidence's ContentDigest;
- a hybrid letter gets A.1 as well as H.PN (posted) at once, then H.EPO three sandbox days later.
"""

from sandbox.edoreczenia.views import build

__all__ = ["build"]
