"""The submission receipt (« accusé de dépôt »): a one-page PDF mailed to the référents.

fpdf2 (pure Python) with the DejaVu fonts shipped in app/data/fonts: no system library and no
font lookup at run time, and every French character prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from app.templating import SECTION_STATUSES, french_date

FONTS = Path(__file__).resolve().parents[1] / "data" / "fonts"


@dataclass(frozen=True)
class ReceiptSection:
    title: str
    status: str
    answered: int
    questions: int


@dataclass(frozen=True)
class Receipt:
    collectivite: str
    campagne: str
    dossier_id: int
    submitted_at: datetime
    submitted_by: str
    submitted_by_email: str
    sections: list[ReceiptSection]
    digest: str
    signature: str


def render(receipt: Receipt) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title(f"Accusé de dépôt — {receipt.collectivite}")
    pdf.set_author("Arobase")
    pdf.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    width = pdf.epw

    def line(text: str, size: int = 11, style: str = "", gap: float = 2) -> None:
        pdf.set_font("DejaVu", style, size)
        pdf.multi_cell(width, size * 0.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(gap)

    line("Accusé de dépôt", 20, "B", 4)
    line(receipt.campagne, 13, "B")
    line(f"{receipt.collectivite} — dossier n° {receipt.dossier_id}", 13, "", 6)
    line(f"Déposé le {french_date(receipt.submitted_at, with_time=True)}")
    line(f"par {receipt.submitted_by} ({receipt.submitted_by_email})", gap=6)

    pdf.set_font("DejaVu", "B", 10)
    columns = (width * 0.62, width * 0.18, width * 0.20)
    for label, w in zip(("Section", "Statut", "Réponses"), columns, strict=True):
        pdf.cell(w, 7, label, border="B")
    pdf.ln()
    pdf.set_font("DejaVu", "", 10)
    for section in receipt.sections:
        pdf.cell(columns[0], 6.5, section.title[:70])
        pdf.cell(columns[1], 6.5, SECTION_STATUSES.get(section.status, section.status))
        pdf.cell(columns[2], 6.5, f"{section.answered} / {section.questions}")
        pdf.ln()
    pdf.ln(6)
    line("Empreinte des réponses déposées (SHA-256) :", 9, "B", 0)
    line(receipt.digest, 9, "", 2)
    line("Signature du serveur (HMAC-SHA-256) :", 9, "B", 0)
    line(receipt.signature, 9, "", 6)
    line(
        "Les réponses sont figées à cet instant : la version déposée reste consultable dans "
        "l'historique du dossier, et cette empreinte permet d'en vérifier l'intégrité.",
        9,
    )
    return bytes(pdf.output())
