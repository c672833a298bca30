"""The sandbox e-Doręczenia service (mounted at /edoreczenia): the User Agent API of spec 3.0.8.1 for the
office's mailbox, OAuth 2.0 client credentials, the BAE address search, evidences sealed by the provider,
the 14-day receipt fiction on a movable sandbox clock, callbacks, faults, and the residents' box pages.

It follows the fixed sandbox ⇄ portal contract for e-Doręczenia (paths under /edoreczenia/api/v1, the demo
client okienko-leszno, the addresses in sandbox/people.py, the evidence XML of evidence.py). Where the
sandbox chooses something the contract leaves open, or differs from the spec on purpose:
- `GET .../messages/{id}?format=full` carries the attachments' content (base64), as `fullExtended` does;
- `GET .../messages/{id}/attachments/{attachmentId}` answers with the bytes (application/octet-stream), and
  with the spec's Attachment JSON only to a client whose Accept names application/json;
- faults (`/edoreczenia/sandbox/faults`) hit the UA API and the BAE search, not the token endpoint;
- a message without attachments has the SHA3-256 of its text as the evidence's ContentDigest;
- a hybrid letter gets A.1 as well as H.PN (posted) at once, then H.EPO three sandbox days later
  (status "Nadana", then "Doręczona");
- sending is processed at once: the task is FINISHED when POST .../messages answers; a rejected recipient
  shows in the task as status "ERROR" with error RECIPIENT_NOT_FOUND (and evidence A.2);
- the spec's MessageOperationResponseWrapperStatus and MessagesWrapper require properties they do not
  define (addresseeAde, status; resultSize): the sandbox sends them so answers validate;
- notifications of new evidences go to the sender's subscription (evidenceCallbackUrl), of new messages
  to the recipient's (messageCallbackUrl); a new PUT replaces the mailbox's subscription;
- message_control_data PATCH supports `replace /opened true` only; reading `full` (or that PATCH) by the
  recipient is the opening, i.e. delivery (E.1 + BP.OX) when the message still waits;
- the 14-day fiction applies to every electronic message, the office's incoming ones too; what falls due
  runs on every request and whenever the sandbox clock moves (the clock offset is kept in the state);
- tokens are kept in the state too, so a client's token outlives a sandbox restart;
- the residents' box pages have no CSRF token, like the sandbox's other forms (test data only, no session).
"""

from sandbox.edoreczenia.views import build

__all__ = ["build"]
