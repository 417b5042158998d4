"""The domain model. Importing this package registers every table on `SQLModel.metadata`."""

from app.models.audit import AuditEvent
from app.models.collab_store import DocCheckpoint, DocUpdate, Version, VersionSection
from app.models.dossier import (
    Affectation,
    Collectivite,
    CollectiviteKind,
    Dossier,
    DossierState,
    Section,
    SectionStatus,
)
from app.models.invitations import (
    Invitation,
    InvitationKind,
    InvitationStatus,
    OutboxMail,
    PasswordReset,
)
from app.models.people import Membre, Role, User, UserSession
from app.models.questionnaire import (
    Campagne,
    Enjeu,
    Question,
    Questionnaire,
    QuestionType,
    Theme,
    Variante,
)
from app.models.review import Comment, Notification, Thread
from app.models.submission import DeadlineNotice, Depot

__all__ = [
    "Affectation",
    "AuditEvent",
    "Campagne",
    "Collectivite",
    "CollectiviteKind",
    "Comment",
    "DeadlineNotice",
    "Depot",
    "DocCheckpoint",
    "DocUpdate",
    "Dossier",
    "DossierState",
    "Enjeu",
    "Invitation",
    "InvitationKind",
    "InvitationStatus",
    "Membre",
    "Notification",
    "OutboxMail",
    "PasswordReset",
    "Question",
    "QuestionType",
    "Questionnaire",
    "Role",
    "Section",
    "SectionStatus",
    "Theme",
    "Thread",
    "User",
    "UserSession",
    "Variante",
    "Version",
    "VersionSection",
]
