"""The annual publication's analysis report as PDF, and its charts (drawn here, no network, no browser).

Four charts, each a reportlab `Drawing` rendered into the PDF and, as SVG, into the HTML report:
- the monthly trend (cases reported per month of the year, by the county's clock);
- the top matters (the `TOP_N` most frequent, cancelled cases aside);
- a township choropleth of the on-time closure rate (townships of the version in force at the year's end; grey:
  no case due);
- the hotspot map: Getis–Ord Gi* (`analytics.hotspots`) on the year's located cases per H3 cell at resolution
  `MAP_RES` over the townships' outlines, k = 1, Benjamini–Hochberg at each confidence, bins as on the wall.
The PDF's words are in the CID font STSong-Light that every PDF reader supplies (as web/sheet.py), so no font ships.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
from reportlab.graphics.shapes import Drawing, Line, Polygon, Rect, String
from reportlab.lib.colors import Color, HexColor
from shapely.geometry.base import BaseGeometry

from analytics import delegation_review, indicators
from analytics.hotspots import count_cells, hotspots, points_to_cells, study_area
from analytics.publication import (
    BREAKDOWN_NAMES,
    INDICATOR_PERCENT,
    Annual,
    _moment,
    analysis,
    cell_text,
    indicator_rows,
)
from i18n import N_, T, gettext, render

FONT = "STSong-Light"
TOP_N = 10
MAP_RES = 8  # H3 resolution of the hotspot map (edge ≈ 460 m): a county fits on a page
WIDTH, HEIGHT = 480.0, 260.0
HOT = {3: "#b2182b", 2: "#ef8a62", 1: "#fddbc7", 0: "#eeeeee", -1: "#d1e5f0", -2: "#67a9cf", -3: "#2166ac"}


def _font() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))


@dataclass(frozen=True)
class Chart:
    key: str  # month | matter | township | hotspot
    title: str
    drawing: Drawing


def _c(hex_colour: str | None) -> Color | None:
    return None if hex_colour is None else HexColor(hex_colour)


def _text(x: float, y: float, s: str, size: float = 8, anchor: str = "start") -> String:
    return String(x, y, s, fontName=FONT, fontSize=size, textAnchor=anchor)


def bar_chart(rows: Sequence[tuple[str, int]], horizontal: bool = False) -> Drawing:
    """Bars with their counts written on them: vertical (months) or horizontal (named categories)."""
    _font()
    d = Drawing(WIDTH, HEIGHT)
    top = max([n for _, n in rows] + [1])
    if horizontal:
        h = min((HEIGHT - 10) / max(len(rows), 1), 24.0)
        left, span = 150.0, WIDTH - 200
        for i, (name, n) in enumerate(rows):
            y = HEIGHT - (i + 1) * h
            d.add(_text(left - 4, y + h * 0.3, name[:18], anchor="end"))
            d.add(Rect(left, y + h * 0.15, n / top * span, h * 0.7, fillColor=_c("#1f77b4"), strokeColor=None))
            d.add(_text(left + n / top * span + 3, y + h * 0.3, str(n)))
        return d
    w = (WIDTH - 20) / max(len(rows), 1)
    base, span = 20.0, HEIGHT - 40
    d.add(Line(10, base, WIDTH - 10, base, strokeColor=_c("#666666")))
    for i, (name, n) in enumerate(rows):
        x = 10 + i * w
        d.add(Rect(x + w * 0.15, base, w * 0.7, n / top * span, fillColor=_c("#1f77b4"), strokeColor=None))
        d.add(_text(x + w / 2, base + n / top * span + 3, str(n), anchor="middle"))
        d.add(_text(x + w / 2, base - 12, name, anchor="middle"))
    return d


def _projector(outlines: Sequence[BaseGeometry], box: tuple[float, float, float, float]) -> Any:
    """lon/lat → drawing points in `box` (x, y, w, h), equirectangular at the outlines' mean latitude."""
    import shapely

    x0, y0, x1, y1 = shapely.total_bounds(list(outlines)) if outlines else (0.0, 0.0, 1.0, 1.0)
    k = math.cos(math.radians((y0 + y1) / 2))
    sx = box[2] / max((x1 - x0) * k, 1e-9)
    sy = box[3] / max(y1 - y0, 1e-9)
    s = min(sx, sy)

    def project(lon: float, lat: float) -> tuple[float, float]:
        return box[0] + (lon - x0) * k * s, box[1] + (lat - y0) * s

    return project


def _rings(geom: BaseGeometry) -> list[list[tuple[float, float]]]:
    polys = list(getattr(geom, "geoms", [geom]))
    return [list(p.exterior.coords) for p in polys if hasattr(p, "exterior")]


def _shape(ring: Sequence[tuple[float, float]], project: Any, fill: str | None, stroke: str | None,
           width: float = 0.5) -> Polygon:
    pts: list[float] = []
    for lon, lat in ring:
        pts += project(lon, lat)
    return Polygon(pts, fillColor=_c(fill), strokeColor=_c(stroke), strokeWidth=width)


def rate_colour(rate: float | None) -> str:
    """Red (0 %) through yellow to green (100 %); grey when there is no rate."""
    if rate is None:
        return "#cccccc"
    r = max(0.0, min(1.0, rate))
    red, green = (1.0, r * 2) if r < 0.5 else (2 - r * 2, 1.0)
    return f"#{int(red * 215 + 20):02x}{int(green * 175 + 20):02x}{60:02x}"


def choropleth(towns: Sequence[tuple[str, str, BaseGeometry]], rates: dict[str, float | None]) -> Drawing:
    """Townships filled by their on-time closure rate, with a legend."""
    _font()
    d = Drawing(WIDTH, HEIGHT)
    project = _projector([g for _, _, g in towns], (5, 5, WIDTH - 140, HEIGHT - 10))
    for code, name, geom in towns:
        for ring in _rings(geom):
            d.add(_shape(ring, project, rate_colour(rates.get(code)), "#333333"))
        c = geom.representative_point()
        x, y = project(c.x, c.y)
        d.add(_text(x, y, name[:8], size=7, anchor="middle"))
    for i, v in enumerate((1.0, 0.75, 0.5, 0.25, 0.0)):
        d.add(Rect(WIDTH - 120, HEIGHT - 20 - i * 16, 14, 12, fillColor=_c(rate_colour(v)), strokeColor=None))
        d.add(_text(WIDTH - 100, HEIGHT - 17 - i * 16, f"{v * 100:.0f}%"))
    d.add(Rect(WIDTH - 120, HEIGHT - 20 - 5 * 16, 14, 12, fillColor=_c(rate_colour(None)), strokeColor=None))
    d.add(_text(WIDTH - 100, HEIGHT - 17 - 5 * 16, "—"))
    return d


def hotspot_map(towns: Sequence[tuple[str, str, BaseGeometry]], lon: Sequence[float], lat: Sequence[float],
                legend: dict[int, str]) -> Drawing:
    """Gi* bins of the year's located cases per H3 cell over the townships (hot red, cold blue)."""
    import h3

    _font()
    d = Drawing(WIDTH, HEIGHT)
    outlines = [g for _, _, g in towns]
    counts = count_cells(points_to_cells(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64),
                                         MAP_RES)) if len(lon) else {}
    project = _projector(outlines or [_cells_outline(list(counts))], (5, 5, WIDTH - 140, HEIGHT - 10))
    if counts:
        cells = study_area(counts, outlines, MAP_RES, 1)
        result = hotspots(cells, np.array([counts.get(c, 0) for c in cells], dtype=np.float64), k=1)
        for cell, b in zip(result.cells, result.bins, strict=True):
            ring = [(lng, la) for la, lng in h3.cell_to_boundary(cell)]
            d.add(_shape(ring, project, HOT[int(b)], None))
    for geom in outlines:
        for ring in _rings(geom):
            d.add(_shape(ring, project, None, "#333333", 0.8))
    for i, b in enumerate((3, 2, 1, 0, -1, -2, -3)):
        d.add(Rect(WIDTH - 120, HEIGHT - 20 - i * 16, 14, 12, fillColor=_c(HOT[b]), strokeColor=None))
        d.add(_text(WIDTH - 100, HEIGHT - 17 - i * 16, legend[b]))
    return d


def _cells_outline(cells: list[str]) -> BaseGeometry:
    import h3
    import shapely

    if not cells:
        return shapely.box(0, 0, 1, 1)
    pts = [(lng, la) for c in cells for la, lng in h3.cell_to_boundary(c)]
    return shapely.MultiPoint(pts).envelope


def charts(a: Annual, towns: Sequence[tuple[str, str, BaseGeometry]], lon: Sequence[float], lat: Sequence[float],
           lang: str | None = None) -> list[Chart]:
    """The report's four charts from the year's figures, the townships in force at its end and the case points."""
    def g(msgid: str) -> str:
        return gettext(msgid, lang)

    months = {code: n for code, _, n in a.breakdown["month"]}
    monthly = [(f"{i}", months.get(f"{a.year}-{i:02d}", 0)) for i in range(1, 13)]
    top = sorted(a.breakdown["matter"], key=lambda m: (-m[2], m[0]))[:TOP_N]
    rates = {r["code"]: r["on_time_rate"] for r in a.levels.get("township", [])}
    legend = {3: g(N_("hot, 99% confidence")), 2: g(N_("hot, 95% confidence")), 1: g(N_("hot, 90% confidence")),
              0: g(N_("not significant")), -1: g(N_("cold, 90% confidence")), -2: g(N_("cold, 95% confidence")),
              -3: g(N_("cold, 99% confidence"))}
    return [
        Chart("month", render(T("Monthly trend of cases reported in {year}", year=a.year), lang),
              bar_chart(monthly)),
        Chart("matter", render(T("The {n} most frequent matters", n=TOP_N), lang),
              bar_chart([(name or code, n) for code, name, n in top], horizontal=True)),
        Chart("township", g(N_("On-time closure rate by township")), choropleth(towns, rates)),
        Chart("hotspot", g(N_("Significant hotspots of the year's cases (Getis–Ord Gi*)")),
              hotspot_map(towns, lon, lat, legend)),
    ]


def svg(drawing: Drawing) -> str:
    """A drawing as an inline SVG element (for the HTML report)."""
    from reportlab.graphics import renderSVG

    text = renderSVG.drawToString(drawing)
    return text[text.index("<svg"):]


def report_pdf(a: Annual, made: Sequence[Chart], stamp: datetime, lang: str | None = None,
               county_name: str | None = None) -> bytes:
    """The analysis report as PDF: title, the analysis, the four charts, the county and township indicators,
    the outcome breakdown and the delegation review's flagged rows."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    _font()
    body = ParagraphStyle("body", fontName=FONT, fontSize=10, leading=15, wordWrap="CJK")
    small = ParagraphStyle("small", parent=body, fontSize=7.5, leading=9.5)
    title = ParagraphStyle("title", parent=body, fontSize=18, leading=24, alignment=1, spaceAfter=6)
    head = ParagraphStyle("head", parent=body, fontSize=12.5, leading=17, spaceBefore=10, spaceAfter=4)

    def p(text: str, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(text), style)

    def g(msgid: str) -> str:
        return gettext(msgid, lang)

    def table(head_row: Sequence[str], rows: Sequence[Sequence[Any]], percent: Sequence[int] = ()) -> Table:
        data = [[p(h, small) for h in head_row]] + [[p(cell_text(v, i in percent), small) for i, v in enumerate(r)]
                                                     for r in rows]
        t = Table(data, repeatRows=1)
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        return t

    story: list[Any] = [p(render(T("Enforcement data of {year}: annual publication", year=a.year), lang), title)]
    if county_name or a.county:
        story.append(p(county_name or a.county or "", ParagraphStyle("c", parent=body, alignment=1)))
    story.append(p(f"{g(N_('Figures as of'))}: {_moment(a.as_of)} · {g(N_('Generated at'))}: {_moment(stamp)}",
                   small))
    story.append(p(g(N_("Analysis")), head))
    story += [p(s) for s in analysis(a, lang)]
    for chart in made:
        story.append(KeepTogether([p(chart.title, head), chart.drawing]))
    cols = [i for i, (k, _) in enumerate(indicators.COLUMNS) if k not in ("score", "grade", "code")]
    heads = indicators.headers(lang)
    for level in ("county", "township"):
        rows = indicator_rows(a.levels.get(level, []))
        story.append(p(g(indicators.LEVEL_NAMES[level]), head))
        story.append(table([heads[i] for i in cols], [[r[i] for i in cols] for r in rows],
                           [j for j, i in enumerate(cols) if i in INDICATOR_PERCENT]))
    for key in ("procedure", "outcome", "dispute"):
        story.append(p(g(BREAKDOWN_NAMES[key]), head))
        story.append(table([g(N_("Name")), g(N_("Cases"))], [(name, n) for _, name, n in a.breakdown.get(key, [])]))
    flagged = [r for r in a.review if r["flag"]]
    story.append(p(g(N_("Delegation review")), head))
    keep = [i for i, (k, _) in enumerate(delegation_review.COLUMNS)][:8]
    story.append(table([delegation_review.headers(lang)[i] for i in keep],
                       [[delegation_review.cell(delegation_review.COLUMNS[i][0], r.get(delegation_review.COLUMNS[i][0]),
                                                lang) for i in keep] for r in flagged]))
    story.append(Spacer(1, 4 * mm))
    story.append(p(a.scoring_source, small))
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
                            bottomMargin=15 * mm, title=f"annual-{a.year}", author="GridGov", creator="GridGov",
                            invariant=1)
    doc.build(story)
    return out.getvalue()

