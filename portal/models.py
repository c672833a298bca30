"""Every domain's models, imported together so that the metadata (and Alembic) sees all tables."""

from backoffice_adapter.models import OutboxMessage
from portal.audit.models import AuditEntry, AuditHead
from portal.auth.models import Clerk, Resident
from portal.desk.models import IncomingParcel, RpwCounter
from portal.forms.models import Draft, DraftAttachment, EService
from portal.inbox.models import Submission
from portal.signing.models import TrustAnchor
from portal.status.models import CaseEvent
from portal.storage.models import Blob

__all__ = [
    "AuditEntry",
    "AuditHead",
    "Blob",
    "DraftAttachment",
    "CaseEvent",
    "Clerk",
    "Draft",
    "EService",
    "IncomingParcel",
    "OutboxMessage",
    "Resident",
    "RpwCounter",
    "Submission",
    "TrustAnchor",
]
