"""Every domain's models, imported together so that the metadata (and Alembic) sees all tables."""

from backoffice_adapter.models import OutboxMessage
from portal.audit.models import AuditEntry, AuditHead
from portal.auth.models import Clerk, Resident, WebSession
from portal.catalog_admin.models import CatalogEntry, WorkingCopy
from portal.desk.models import CaseCounter, DeskCase, IncomingParcel, OutgoingLetter, RpwCounter, SupplementRequest
from portal.edoreczenia.incoming_models import IncomingMessage
from portal.edoreczenia.models import EdoDispatch, EdoEvidence
from portal.epuap_pull.models import PullItem
from portal.forms.models import Draft, DraftAttachment, EService
from portal.inbox.models import Submission
from portal.notify.models import JobRun, Notification
from portal.signing.models import TrustAnchor
from portal.status.models import CaseEvent
from portal.storage.models import Blob

__all__ = [
    "AuditEntry",
    "AuditHead",
    "Blob",
    "CatalogEntry",
    "IncomingMessage",
    "DraftAttachment",
    "CaseEvent",
    "Clerk",
    "Draft",
    "CaseCounter",
    "DeskCase",
    "EService",
    "EdoDispatch",
    "EdoEvidence",
    "IncomingParcel",
    "JobRun",
    "Notification",
    "OutboxMessage",
    "OutgoingLetter",
    "PullItem",
    "Resident",
    "RpwCounter",
    "Submission",
    "SupplementRequest",
    "TrustAnchor",
    "WebSession",
    "WorkingCopy",
]
