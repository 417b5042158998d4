"""Answers as they live in a section's Y document, read for pages and exports.

Layout of a section document (shared with the editor island): each `texte` question is a root
XmlFragment named by the question's key; every other answer is an entry of the root Map
`answers`, keyed by the question's key (str, bool, number, list of choice keys, ISO date).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from markupsafe import Markup
from pycrdt import Doc, Map, XmlFragment

from app.models import Question, QuestionType
from app.services import richtext

ANSWERS_MAP = "answers"
MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


@dataclass(frozen=True)
class Answer:
    question: Question
    value: Any  # JSON-able raw value; rich text: its plain text
    text: str  # plain text for exports and summaries
    html: Markup | None = None  # sanitised, for rich text

    @property
    def empty(self) -> bool:
        return self.value in (None, "", [])


def read(doc: Doc[Any], questions: list[Question]) -> dict[str, Answer]:
    values = doc.get(ANSWERS_MAP, type=Map).to_py() or {}
    out: dict[str, Answer] = {}
    for question in questions:
        if question.type == QuestionType.texte:
            fragment = doc.get(question.cle, type=XmlFragment)
            text = richtext.to_text(fragment)
            html = Markup(richtext.to_html(fragment))  # noqa: S704 - built escaped, then nh3-cleaned
            out[question.cle] = Answer(question, text, text, html)
        else:
            value = _normalise(values.get(question.cle))
            out[question.cle] = Answer(question, value, display(question, value))
    return out


def _normalise(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)  # Yjs numbers are doubles; 42.0 is the 42 that was typed
    return value


def french_number(value: float) -> str:
    text = f"{value:,.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else f"{value:,}"
    return text.replace(",", "\u202f").replace(".", ",")


def display(question: Question, value: Any) -> str:
    """The answer as a sentence fragment in French ('' when unanswered)."""
    if value in (None, "", []):
        return ""
    qtype = question.type
    if qtype == QuestionType.oui_non:
        return "Oui" if value else "Non"
    if qtype == QuestionType.indicateur and isinstance(value, int | float):
        return f"{french_number(value)} {question.unite or ''}".strip()
    if qtype == QuestionType.choix_unique:
        return question.choice_label(value)
    if qtype == QuestionType.choix_multiple and isinstance(value, list):
        return ", ".join(question.choice_label(v) for v in value)
    if qtype == QuestionType.date and isinstance(value, str):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return value
        return f"{day.day} {MONTHS[day.month - 1]} {day.year}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def write(doc: Doc[Any], questions: dict[str, Question], values: dict[str, Any]) -> None:
    """Write answers (demo data, tests); rich text takes blocks (see richtext.append_blocks)."""
    answers = doc.get(ANSWERS_MAP, type=Map)
    with doc.transaction():
        for key, value in values.items():
            question = questions[key]
            if question.type == QuestionType.texte:
                richtext.append_blocks(doc.get(key, type=XmlFragment), value)
            elif isinstance(value, date):
                answers[key] = value.isoformat()
            elif isinstance(value, int) and not isinstance(value, bool):
                answers[key] = float(value)
            else:
                answers[key] = value
