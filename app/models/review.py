"""Comment threads on a section (on a question, or on a passage of its text), and each
person's notifications."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models._base import utcnow


class Thread(SQLModel, table=True):
    """A discussion anchored to a question, or to a passage of a rich-text answer.

    The passage is anchored by two Yjs relative positions (encoded as the Yjs library encodes
    them, base64 here), so it follows the text as it is edited; `quote` keeps the passage as it
    was when the thread began, shown when the passage has since been deleted.
    """

    id: int | None = Field(default=None, primary_key=True)
    section_id: int = Field(foreign_key="section.id", index=True, ondelete="CASCADE")
    question_key: str
    anchor_start: str | None = None
    anchor_end: str | None = None
    quote: str = ""
    author_id: int = Field(foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)
    resolved_at: datetime | None = None
    resolved_by: int | None = Field(default=None, foreign_key="user.id")
    deleted_at: datetime | None = None


class Comment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    thread_id: int = Field(foreign_key="thread.id", index=True, ondelete="CASCADE")
    author_id: int = Field(foreign_key="user.id")
    body: str
    created_at: datetime = Field(default_factory=utcnow)
    deleted_at: datetime | None = None


class Notification(SQLModel, table=True):
    """Something that happened that a person should know; mailed at once or in the daily
    digest according to their `notification_mode`, and listed in the app until read."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    kind: str = Field(description="e.g. mention, reponse, statut, attribution, depot")
    subject: str
    body: str
    link: str = ""
    dossier_id: int | None = Field(default=None, foreign_key="dossier.id")
    created_at: datetime = Field(default_factory=utcnow, index=True)
    read_at: datetime | None = None
    mailed_at: datetime | None = None
