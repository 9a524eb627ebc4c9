"""The plan as a PDF: the pages' macros rendered to HTML and laid out by fpdf2 (pure Python, wheels only).

fpdf2's `write_html` understands the small HTML subset the macros keep to (headings, paragraphs, lists, tables,
bold). DejaVu Sans is embedded (shipped in `fonts/` with its licence), so æ, ø and å print as themselves; the
core PDF fonts only know Latin-1 and no glyph outside it.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

from gateway.web.templating import render
from gateway.web.views import PlanView
from gateway.web.words import local_time

FONTS = Path(__file__).parent / "fonts"
FAMILY = "DejaVuSans"


class _PlanPdf(FPDF):
    def __init__(self, title: str, printed: str) -> None:
        super().__init__(format="A4")
        self.plan_title = title
        self.printed = printed
        self.add_font(FAMILY, "", str(FONTS / "DejaVuSans.ttf"))
        self.add_font(FAMILY, "B", str(FONTS / "DejaVuSans-Bold.ttf"))
        self.set_title(title)
        self.set_lang("da")
        self.set_creator("careplan-gateway")
        self.set_auto_page_break(auto=True, margin=18)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FAMILY, "", 8)
        self.cell(0, 6, f"{self.plan_title} · udskrevet {self.printed} · side {self.page_no()}/{{nb}}", align="C")


@cache
def _fonts_present() -> bool:
    return (FONTS / "DejaVuSans.ttf").is_file() and (FONTS / "DejaVuSans-Bold.ttf").is_file()


def plan_pdf(plan: PlanView, printed: datetime) -> bytes:
    """The whole plan (same words as the page) as PDF bytes; `printed` goes into every page's footer."""
    assert _fonts_present(), f"the PDF fonts are missing from {FONTS}"
    title = f"Fælles plan for {plan.citizen}"
    pdf = _PlanPdf(title, local_time(printed))
    pdf.set_creation_date(printed)
    pdf.add_page()
    pdf.set_font(FAMILY, "", 10)
    heading = FontFace(family=FAMILY, emphasis="BOLD")
    pdf.write_html(
        render("pdf.html", plan=plan),
        font_family=FAMILY,
        tag_styles={
            "h1": FontFace(family=FAMILY, emphasis="BOLD", size_pt=18, color="#0b4f8a"),
            "h2": FontFace(family=FAMILY, emphasis="BOLD", size_pt=14, color="#0b4f8a"),
            "h3": FontFace(family=FAMILY, emphasis="BOLD", size_pt=11),
            "strong": heading,
            "b": heading,
        },
    )
    return bytes(pdf.output())
