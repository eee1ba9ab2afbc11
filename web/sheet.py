"""The jurisdiction lookup's result sheet (查询结果单) as a PDF, for the file of a dispute.

The sheet's content is made once (`api/disputes.py`: place, date, the boundaries in force, the containing units,
who is responsible for which matters and on what basis, who asked and when); the dispute page prints the same
content with its print stylesheet, and this module lays it out as an A4 PDF with ReportLab — a long-kept, pure
Python library that needs no network, no browser and no system library. The Chinese text uses the Adobe-GB1 CID
font STSong-Light that every PDF reader supplies, so no font file has to ship with GridGov or sit on the server.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from i18n import T, Text
from i18n.terms import label
from i18n.units import distance, moment

FONT = "STSong-Light"


def sheet_pdf(sheet: dict[str, Any], lang: str) -> bytes:
    """The sheet as PDF bytes, its words in `lang`."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))

    def t(text: Text) -> str:
        return text.render(lang)

    body = ParagraphStyle("body", fontName=FONT, fontSize=10, leading=14, wordWrap="CJK")
    small = ParagraphStyle("small", parent=body, fontSize=8.5, leading=11, textColor=colors.HexColor("#444444"))
    title = ParagraphStyle("title", parent=body, fontSize=18, leading=24, alignment=1, spaceAfter=4)
    head = ParagraphStyle("head", parent=body, fontSize=12, leading=16, spaceBefore=8, spaceAfter=3)

    def p(text: str, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(text), style)

    place, version, asker = sheet["place"], sheet["version"], sheet["asked_by"]
    span = (version.get("effective_from") or "—") + " — " + (version.get("effective_to") or t(T("open-ended")))
    asked_at = moment(datetime.fromisoformat(sheet["asked_at"])).render(lang)
    facts = [
        (t(T("Place")), f"{place['lat']:.6f}, {place['lon']:.6f} (WGS84)"),
        (t(T("As of")), sheet["day"]),
        (t(T("Boundaries in force")), t(T("Version #{id}", id=version["id"])) + f" {version['name']} · {span}"),
        (t(T("Matter")), sheet["matter_name"] or t(T("Every matter (grouped by who is responsible)"))),
        (t(T("To the boundary")), distance(place["distance_to_boundary_m"]).render(lang)
         + (" · " + t(T("on the boundary")) if place["on_boundary"] else "")),
        (t(T("Asked by")), f"{asker['display_name']} ({asker['username']}, {label('role', asker['role'], lang)})"),
        (t(T("Asked at")), asked_at),
    ]
    grid = TableStyle([("FONT", (0, 0), (-1, -1), FONT, 10), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                       ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
                       ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f0f0f0"))])
    story: list[Any] = [p(t(T("Jurisdiction lookup result sheet")), title),
                        p(t(T("GridGov · who is responsible for this place, as of the date asked")), small),
                        Spacer(1, 4 * mm)]
    story.append(Table([[p(k), p(v)] for k, v in facts], colWidths=[35 * mm, 135 * mm], style=grid))
    story.append(p(t(T("Containing units")), head))
    units = [[p(t(T("Layer"))), p(t(T("Name"))), p(t(T("Code")))]] + [
        [p(label("layer", u["layer"], lang) or u["layer"]), p(u["name"]), p(u["code"])] for u in place["units"]]
    story.append(Table(units, colWidths=[30 * mm, 80 * mm, 60 * mm], style=grid, repeatRows=1))
    story.append(p(t(T("Responsible")), head))
    rows = [[p(t(T("Team"))), p(t(T("Finding"))), p(t(T("Matters"))), p(t(T("Basis")))]]
    for g in sheet["groups"]:
        team = g["team_name"] + (" + " + "、".join(c["name"] for c in g["co_owners"]) if g["co_owners"] else "")
        names = "、".join(m["name"] for m in g["matters"])
        basis = (g["rule"]["legal_basis"] + " · " if g["rule"] and g["rule"]["legal_basis"] else "") + g["reason"]
        rows.append([p(f"{team} ({g['team']})"), p(label("routing_status", g["status"], lang) or g["status"]),
                     p(t(T("{n} matter(s)", n=len(g["matters"]))) + ": " + names, small), p(basis, small)])
    story.append(Table(rows, colWidths=[42 * mm, 18 * mm, 55 * mm, 55 * mm], style=grid, repeatRows=1))
    story += [Spacer(1, 6 * mm), p(t(T("This sheet records the lookup's answer; it is not a ruling. A dispute is "
                                     "settled by the arbiter's ruling.")), small)]
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm,
                            bottomMargin=18 * mm, title=t(T("Jurisdiction lookup result sheet")), author="GridGov",
                            lang=lang)
    doc.build(story)
    return out.getvalue()
