#!/usr/bin/env python3
"""Inputs for measuring `concord import`: a 200-page shop site (the fixture shop's help pages,
varied per page so every article is distinct) with a sitemap, and a 50-page PDF of Polish terms.

    python3 -m venv /tmp/fx-venv && /tmp/fx-venv/bin/pip install fpdf2
    /tmp/fx-venv/bin/python bench/import/make_inputs.py OUT_DIR HOST:PORT [--pages 200] [--pdf-pages 50]

Then serve OUT_DIR/site on HOST:PORT (python3 -m http.server) and run
`concord import sitemap http://HOST:PORT/sitemap.xml --delay-ms 0` and
`concord import pdf OUT_DIR/terms.pdf` (see the closing note of issue 22).
"""

import argparse
import re
from pathlib import Path

from fpdf import FPDF

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "shop-site"
PAGES = ["pomoc/dostawa.html", "pomoc/zwroty.html", "pomoc/platnosci.html", "pomoc/pielegnacja.html"]


def site(out: Path, host: str, pages: int) -> None:
    urls = []
    for n in range(pages):
        src = PAGES[n % len(PAGES)]
        html = (FIXTURE / src).read_text(encoding="utf-8")
        # Distinct pages: a number in the title and headings, prices shifted by the page number.
        html = html.replace("<h1>", f"<h1>Część {n + 1}: ", 1)
        html = re.sub(r"<h2>", f"<h2>({n + 1}) ", html)
        html = re.sub(r"(\d+),99 zł", lambda m: f"{int(m.group(1)) + n % 7},99 zł", html)
        rel = f"pomoc/{n + 1:03d}-{Path(src).name}"
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
        urls.append(f"http://{host}/{rel}")
    entries = "".join(f"<url><loc>{u}</loc></url>\n" for u in urls)
    (out / "sitemap.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{entries}</urlset>\n',
        encoding="utf-8",
    )
    (out / "robots.txt").write_text("User-agent: *\nDisallow: /prywatne/\n", encoding="utf-8")


PARAGRAPH = (
    "Konsument może odstąpić od umowy zawartej na odległość w terminie 14 dni bez podawania "
    "przyczyny. Sklep zwraca wszystkie płatności, w tym koszt najtańszego sposobu dostawy, w ciągu "
    "14 dni od otrzymania oświadczenia, tą samą metodą płatności. Reklamację można złożyć e-mailem "
    "lub pocztą na adres siedziby: ul. Ogrodowa 12, 31-155 Kraków. Żywe rośliny wysyłamy od "
    "poniedziałku do środy, aby nie czekały w sortowni przez weekend."
)


def pdf(out: Path, pages: int) -> None:
    doc = FPDF(format="A4")
    fonts = Path("/usr/share/fonts/truetype/dejavu")
    doc.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
    doc.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    doc.set_auto_page_break(True, margin=20)
    section = 0
    while doc.page_no() < pages or doc.page_no() == 0:
        if doc.page_no() == 0:
            doc.add_page()
            doc.set_font("DejaVu", "B", 16)
            doc.multi_cell(0, 8, "Regulamin sklepu internetowego Zielony Dzbanek", new_x="LMARGIN", new_y="NEXT")
        section += 1
        doc.set_font("DejaVu", "B", 12)
        doc.multi_cell(0, 7, f"§ {section}. Postanowienia szczegółowe nr {section}", new_x="LMARGIN", new_y="NEXT")
        doc.set_font("DejaVu", "", 10)
        for item in range(1, 4):
            doc.multi_cell(0, 5, f"{item}. {PARAGRAPH} Ustęp {section}.{item}.", new_x="LMARGIN", new_y="NEXT")
            doc.ln(1)
    doc.output(str(out))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("host")
    ap.add_argument("--pages", type=int, default=200)
    ap.add_argument("--pdf-pages", type=int, default=50)
    a = ap.parse_args()
    site(a.out / "site", a.host, a.pages)
    pdf(a.out / "terms.pdf", a.pdf_pages)


if __name__ == "__main__":
    main()
