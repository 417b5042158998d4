"""Rich text written into a section's stored document, and anchors of its passages, for tests.

Anchors are made the way the browser makes them (an item position on the passage's first
character, assoc 0, and one on its last character, assoc -1, encoded as Yjs encodes them), by
looking for the characters of the client that wrote the text: no assumption on how pycrdt
numbers the items it creates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pycrdt import Doc, XmlElement, XmlFragment, XmlText
from sqlmodel import Session

from app.models import Section, User
from app.services import anchors, documents
from app.services.anchors import Placement, Position

KEY = "gouvernance.strategie"  # the rich-text question of the mini questionnaire's first thème


def edit(
    session: Session, section: Section, author: User, change: Callable[[Doc[Any]], None]
) -> int:
    """Apply `change` to the stored document, store it as `author`'s; the writing client's id."""
    doc = documents.load(session, section.doc_name)
    before = doc.get_state()
    change(doc)
    documents.append_update(session, section.doc_name, doc.get_update(before), author.id)
    return int(doc.client_id)


def write_paragraphs(
    session: Session, section: Section, author: User, paragraphs: list[str], key: str = KEY
) -> int:
    def append(doc: Doc[Any]) -> None:
        fragment = doc.get(key, type=XmlFragment)
        for text in paragraphs:
            fragment.children.append(XmlElement("paragraph", {}, [XmlText(text)]))

    return edit(session, section, author, append)


def texts(doc: Doc[Any], key: str = KEY) -> list[XmlText]:
    """The XmlText of each paragraph, in order."""
    found = []
    for child in doc.get(key, type=XmlFragment).children:
        assert isinstance(child, XmlElement)
        [text] = list(child.children)
        assert isinstance(text, XmlText)
        found.append(text)
    return found


def anchor(
    session: Session, section: Section, client: int, passage: str, key: str = KEY
) -> tuple[str, str]:
    """The anchors of `passage`, written (in one piece) by `client`."""
    doc = documents.load(session, section.doc_name)
    length = len(passage.encode("utf-16-le")) // 2
    for clock in range(10_000):
        pair = (
            anchors.encode(Position(client, clock, 0)),
            anchors.encode(Position(client, clock + length - 1, -1)),
        )
        [found] = anchors.resolve(doc, key, [pair])
        if found.placement == Placement.PENDING:
            break
        if found.placement == Placement.ATTACHED and found.text == passage:
            return pair
    raise AssertionError(f"no passage {passage!r} written by client {client}")


def resolve(session: Session, section: Section, pair: tuple[str, str], key: str = KEY) -> Any:
    [found] = anchors.resolve(documents.load(session, section.doc_name), key, [pair])
    return found
