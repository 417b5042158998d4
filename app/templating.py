"""Jinja environment: French labels for domain values, date formats, and the policy."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from jinja2 import Environment

from app import policy
from app.services.answers import MONTHS, french_number
from app.settings import Settings

PARIS = ZoneInfo("Europe/Paris")

ROLE_LABELS = {
    "referent": "Référent·e",
    "producteur": "Producteur·rice",
    "relecteur": "Relecteur·rice",
}
DOSSIER_STATES = {
    "brouillon": "Brouillon",
    "depose": "Déposé",
    "en_instruction": "En instruction",
    "labellise": "Labellisé",
    "verrouille": "Verrouillé (date limite dépassée)",
}
SECTION_STATUSES = {
    "a_rediger": "À rédiger",
    "en_cours": "En cours",
    "a_relire": "À relire",
    "validee": "Validée",
}
QUESTION_TYPES = {
    "texte": "Texte riche",
    "texte_court": "Texte court",
    "oui_non": "Oui / non",
    "indicateur": "Indicateur",
    "choix_unique": "Choix unique",
    "choix_multiple": "Choix multiple",
    "date": "Date",
    "url": "Lien",
    "piece_jointe": "Pièce jointe",
    "actions": "Actions",
}


def french_date(value: date | datetime | None, with_time: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        local = value.astimezone(PARIS)
        text = f"{local.day} {MONTHS[local.month - 1]} {local.year}"
        return f"{text} à {local:%H:%M}" if with_time else text
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def configure(env: Environment, settings: Settings) -> None:
    env.filters["date_fr"] = french_date
    env.filters["number_fr"] = french_number
    env.filters["role_label"] = lambda v: ROLE_LABELS.get(v, v or "")
    env.filters["etat_label"] = lambda v: DOSSIER_STATES.get(v, v)
    env.filters["statut_label"] = lambda v: SECTION_STATUSES.get(v, v)
    env.filters["type_label"] = lambda v: QUESTION_TYPES.get(v, v)
    env.globals["Action"] = policy.Action
    env.globals["can"] = policy.can
    env.globals["production"] = settings.production
    env.globals["today"] = lambda: datetime.now(PARIS).date()
    env.trim_blocks = True
    env.lstrip_blocks = True
