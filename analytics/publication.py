"""Workbooks and the annual publication (泉州: the previous year's enforcement data by 31 January, with an analysis
report to the county government): an XLSX workbook and a printable HTML report, in the reader's language.

Reproducible: the same data give the same bytes, the generated-at stamp aside. openpyxl stamps the workbook's
`modified` property with the moment of saving (whatever was set) and its zip entries with the time of writing;
both are rewritten here (the properties to the generated-at stamp, the zip entries to 1980-01-01), and every table
is sorted by code. For a year not yet over, the figures are as of the moment of publishing (`as_of`), so that
moment is a second stamp; a finished year's figures are as of its end.
No personal data: the publication holds regions, teams, matters and the delegation review, never a reporter,
an officer or a party.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape
from openpyxl import Workbook
from openpyxl.styles import Font

from analytics import delegation_review, indicators
from analytics.indicators import CaseFacts
from cases import clock
from i18n import N_, T, gettext, join, render
from i18n.terms import label

ZIP_TIME = (1980, 1, 1, 0, 0, 0)
PUBLISHED_LEVELS = ("county", "township", "village", "team")  # no person: grid workers and officers stay inside


def new_workbook() -> Workbook:
    """An empty workbook (its default sheet removed)."""
    wb = Workbook()
    if wb.active is not None:
        wb.remove(wb.active)
    return wb


def add_sheet(wb: Workbook, title: str, head: Sequence[str], rows: Iterable[Sequence[Any]],
              percent: Sequence[int] = ()) -> None:
    """A sheet with a bold header row, frozen under it, columns wide enough for the header; the columns at the
    `percent` positions are shown as percentages (the cells keep the fraction)."""
    ws = wb.create_sheet(title[:31])
    ws.append(list(head))
    for c in ws[1]:
        c.font = Font(bold=True)
    for row in rows:
        ws.append(["" if v is None else v for v in row])
        for i in percent:
            ws.cell(ws.max_row, i + 1).number_format = "0.0%"
    ws.freeze_panes = "A2"
    for i, h in enumerate(head):
        ws.column_dimensions[ws.cell(1, i + 1).column_letter].width = max(10, min(40, 2 * len(str(h)) + 2))


def workbook_bytes(wb: Workbook, stamp: datetime) -> bytes:
    """The workbook as XLSX bytes that depend only on its content and `stamp` (see the module notes)."""
    naive = clock.to_utc(stamp).replace(tzinfo=None, microsecond=0)
    wb.properties.created = wb.properties.modified = naive
    wb.properties.creator = "GridGov"
    raw = io.BytesIO()
    wb.save(raw)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw.getvalue())) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps `modified` with the time of saving
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                              rb"\g<1>" + naive.isoformat().encode() + rb"Z\g<2>", data)
            dst.writestr(entry, data)
    return out.getvalue()


INDICATOR_PERCENT = [i for i, (k, _) in enumerate(indicators.COLUMNS) if k in indicators.RATES]
REVIEW_PERCENT = [i for i, (k, _) in enumerate(delegation_review.COLUMNS) if k.endswith(("_share", "_rate"))]


def indicator_rows(rows: list[dict[str, Any]]) -> list[list[Any]]:
    """Indicator rows as table rows in the column order of `analytics.indicators.COLUMNS`."""
    return [[r.get(k) for k, _ in indicators.COLUMNS] for r in rows]


def indicators_workbook(by_level: Mapping[str, list[dict[str, Any]]], stamp: datetime,
                        lang: str | None = None) -> bytes:
    """One sheet per level of indicator rows, headers in the reader's language."""
    wb = new_workbook()
    for level, rows in by_level.items():
        add_sheet(wb, gettext(indicators.LEVEL_NAMES[level], lang), indicators.headers(lang), indicator_rows(rows),
                  INDICATOR_PERCENT)
    return workbook_bytes(wb, stamp)


def review_rows(rows: list[dict[str, Any]], lang: str | None = None) -> list[list[Any]]:
    return [[delegation_review.cell(k, r.get(k), lang) for k, _ in delegation_review.COLUMNS] for r in rows]


def review_workbook(rows: list[dict[str, Any]], stamp: datetime, lang: str | None = None) -> bytes:
    """The delegation review as a one-sheet workbook."""
    wb = new_workbook()
    add_sheet(wb, gettext(N_("Delegation review"), lang), delegation_review.headers(lang), review_rows(rows, lang),
              REVIEW_PERCENT)
    return workbook_bytes(wb, stamp)


@dataclass(frozen=True)
class Annual:
    """Everything the annual publication shows, computed from the record."""

    year: int
    county: str | None
    as_of: datetime
    levels: dict[str, list[dict[str, Any]]]  # PUBLISHED_LEVELS → indicator rows
    breakdown: dict[str, list[tuple[str, str, int]]]  # matter / domain / procedure / month → (code, name, cases)
    review: list[dict[str, Any]]
    review_years: int
    scoring_source: str


def breakdown(facts: Sequence[CaseFacts], matter_names: Mapping[str, tuple[str, str]],
              lang: str | None = None) -> dict[str, list[tuple[str, str, int]]]:
    """Cases (cancelled aside) by matter, domain, procedure and month of report."""
    live = [f for f in facts if f.status != "cancelled"]
    by_matter = Counter(f.matter for f in live)
    by_domain = Counter(matter_names.get(f.matter, ("", ""))[1] or "—" for f in live)
    by_procedure = Counter(f.procedure for f in live)
    by_month = Counter(clock.wall(f.reported_at).strftime("%Y-%m") for f in live)
    by_outcome = Counter(f.recorded or "" for f in live if f.status == "closed" or f.recorded)
    return {
        "matter": [(m, matter_names.get(m, (m, ""))[0], n) for m, n in sorted(by_matter.items())],
        "domain": [(d, d, n) for d, n in sorted(by_domain.items())],
        "procedure": [(p, label("procedure", p, lang) or p, n) for p, n in sorted(by_procedure.items())],
        "month": [(m, m, n) for m, n in sorted(by_month.items())],
        "outcome": [(o or "none", (label("outcome", o, lang) or o) if o else gettext(N_("none recorded"), lang), n)
                    for o, n in sorted(by_outcome.items())],
        "dispute": [],
    }


BREAKDOWN_NAMES = {"matter": N_("Cases by matter"), "domain": N_("Cases by domain"),
                   "procedure": N_("Cases by procedure"), "month": N_("Cases by month"),
                   "outcome": N_("Outcomes of the cases handled"),
                   "dispute": N_("Disputes and rulings")}
DISPUTE_KINDS = {"dispute": N_("two teams claim it"), "gap": N_("no rule covers it"), "filed": N_("filed by a team")}
DISPUTE_STATES = {"open": N_("awaiting a ruling"), "ruled": N_("ruled"), "dismissed": N_("dismissed")}


def disputes_breakdown(counts: Mapping[tuple[str, str], int], lang: str | None = None) -> list[tuple[str, str, int]]:
    """Disputes raised in the year by kind and state, as (code, words, count) rows."""
    return [(f"{kind}/{state}", f"{gettext(DISPUTE_KINDS.get(kind, kind), lang)} · "
             f"{gettext(DISPUTE_STATES.get(state, state), lang)}", n) for (kind, state), n in sorted(counts.items())]


def analysis(a: Annual, lang: str | None = None) -> list[str]:
    """A short analysis in sentences, generated from the figures (the same figures give the same words)."""
    county = a.levels.get("county") or []
    out: list[str] = []
    if not county or not county[0]["reported"]:
        return [render(T("No case was reported in {year}.", year=a.year), lang)]
    c = county[0]

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{v * 100:.1f}%"

    out.append(render(T("In {year} {reported} cases were reported, {registered} registered and {closed} closed "
                        "(closure rate {closure}); {on_time} of {due} cases due were closed on time (on-time "
                        "closure rate {rate}).", year=a.year, reported=c["reported"], registered=c["registered"],
                        closed=c["closed"], closure=pct(c["closure_rate"]), on_time=c["closed_on_time"],
                        due=c["due"], rate=pct(c["on_time_rate"])), lang))
    hours = "—" if c["mean_hours_to_close"] is None else f"{c['mean_hours_to_close']:.1f}"
    out.append(render(T("{escalated} cases were escalated (escalation rate {escalation}) and {rework} were sent back "
                        "after a failed check (rework rate {rework_rate}); closing took {hours} working hours on "
                        "average.", escalated=c["escalated"], escalation=pct(c["escalation_rate"]),
                        rework=c["rework"], rework_rate=pct(c["rework_rate"]), hours=hours), lang))
    ranked = sorted((r for r in a.levels.get("township", []) if r["on_time_rate"] is not None and r["due"]),
                    key=lambda r: (-r["on_time_rate"], r["code"]))
    if len(ranked) >= 2:
        best, worst = ranked[0], ranked[-1]
        out.append(render(T("By township the on-time closure rate ranged from {best_rate} ({best}) to {worst_rate} "
                            "({worst}).", best=best["name"] or best["code"], best_rate=pct(best["on_time_rate"]),
                            worst=worst["name"] or worst["code"], worst_rate=pct(worst["on_time_rate"])), lang))
    top = sorted(a.breakdown["matter"], key=lambda m: (-m[2], m[0]))[:3]
    if top:
        named = [render(T("{name} ({n})", name=name, n=n), lang) for _, name, n in top]
        out.append(render(T("The most frequent matters were {matters}.", matters=join(named, lang)), lang))
    withdraw = sum(r["flag"] == "withdraw" for r in a.review)
    delegate = sum(r["flag"] == "delegate" for r in a.review)
    out.append(render(T("Over the last {years} years the delegation review found {withdraw} delegated matters with "
                        "no case to consider withdrawing and {delegate} frequent matters not delegated to consider "
                        "delegating.", years=a.review_years, withdraw=withdraw, delegate=delegate), lang))
    return out


def annual_workbook(a: Annual, stamp: datetime, lang: str | None = None) -> bytes:
    """The publication's workbook: about, analysis, indicators per level, breakdowns, delegation review."""
    wb = new_workbook()
    about = [(gettext(N_("Year"), lang), a.year), (gettext(N_("County"), lang), a.county or ""),
             (gettext(N_("Figures as of"), lang), _moment(a.as_of)),
             (gettext(N_("Generated at"), lang), _moment(stamp)),
             (gettext(N_("Scoring"), lang), a.scoring_source)]
    add_sheet(wb, gettext(N_("About"), lang), [gettext(N_("Item"), lang), gettext(N_("Value"), lang)], about)
    add_sheet(wb, gettext(N_("Analysis"), lang), [gettext(N_("Analysis"), lang)], [[s] for s in analysis(a, lang)])
    for level in PUBLISHED_LEVELS:
        add_sheet(wb, gettext(indicators.LEVEL_NAMES[level], lang), indicators.headers(lang),
                  indicator_rows(a.levels.get(level, [])), INDICATOR_PERCENT)
    for key, rows in a.breakdown.items():
        add_sheet(wb, gettext(BREAKDOWN_NAMES[key], lang),
                  [gettext(N_("Code"), lang), gettext(N_("Name"), lang), gettext(N_("Cases"), lang)], rows)
    add_sheet(wb, gettext(N_("Delegation review"), lang), delegation_review.headers(lang), review_rows(a.review, lang),
              REVIEW_PERCENT)
    return workbook_bytes(wb, stamp)


def _moment(dt: datetime) -> str:
    """An instant as the county reads it, to the second."""
    return clock.wall(dt).isoformat(sep=" ", timespec="seconds")


def cell_text(v: Any, percent: bool = False) -> str:
    """A table cell as printed in the HTML and PDF reports: a dash when empty, a rate as a percentage, one decimal."""
    if v is None or v == "":
        return "—"
    if percent and isinstance(v, int | float):
        return f"{v * 100:.1f}%"
    if isinstance(v, float):
        return f"{v:.1f}"
    return str(v)


def _table(head: Sequence[str], rows: Iterable[Sequence[Any]], percent: Sequence[int] = ()) -> Markup:
    body = "".join("<tr>" + "".join(f"<td>{escape(cell_text(v, i in percent))}</td>" for i, v in enumerate(row))
                   + "</tr>" for row in rows)
    return Markup("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>").format(
        Markup("".join(f"<th>{escape(h)}</th>" for h in head)), Markup(body))


def _bars(rows: Sequence[tuple[str, str, int]]) -> Markup:
    """A small inline SVG bar chart (no script, no other host: prints anywhere)."""
    if not rows:
        return Markup("")
    top = max(n for _, _, n in rows) or 1
    w, h = 36, 120
    bars = "".join(
        f'<rect x="{i * w + 4}" y="{h - n / top * (h - 20):.1f}" width="{w - 8}" height="{n / top * (h - 20):.1f}" '
        f'fill="#1f77b4"/><text x="{i * w + w / 2}" y="{h + 12}" font-size="9" text-anchor="middle">'
        f'{escape(label[-2:])}</text><text x="{i * w + w / 2}" y="{h - n / top * (h - 20) - 3:.1f}" font-size="9" '
        f'text-anchor="middle">{n}</text>' for i, (_, label, n) in enumerate(rows))
    return Markup(f'<svg xmlns="http://www.w3.org/2000/svg" width="{len(rows) * w + 8}" height="{h + 16}" '
                  f'role="img">{bars}</svg>')


def _rate_bars(rows: Sequence[tuple[str, float]]) -> Markup:
    """Horizontal bars of rates (0–1), one per named row, with the percentage written beside each."""
    if not rows:
        return Markup("")
    h, label_w, bar_w = 18, 160, 300
    bars = "".join(
        f'<text x="{label_w - 6}" y="{i * h + 13}" font-size="11" text-anchor="end">{escape(name)}</text>'
        f'<rect x="{label_w}" y="{i * h + 3}" width="{max(v, 0.0) * bar_w:.1f}" height="{h - 6}" fill="#2ca02c"/>'
        f'<text x="{label_w + max(v, 0.0) * bar_w + 4:.1f}" y="{i * h + 13}" font-size="11">{v * 100:.1f}%</text>'
        for i, (name, v) in enumerate(rows))
    return Markup(f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 60}" '
                  f'height="{len(rows) * h + 4}" role="img">{bars}</svg>')


def annual_html(a: Annual, stamp: datetime, lang: str | None = None, county_name: str | None = None,
                charts: Sequence[tuple[str, str]] = ()) -> str:
    """The printable analysis report (one HTML file, styles inline, nothing fetched); `charts` are (title, inline
    SVG) pairs (analytics.annual_report) shown in place of the two simple bar charts."""
    def g(msgid: str) -> str:
        return gettext(msgid, lang)

    title = render(T("Enforcement data of {year}: annual publication", year=a.year), lang)
    parts = [Markup("<h1>{}</h1>").format(title)]
    if county_name or a.county:
        parts.append(Markup("<p>{}</p>").format(county_name or a.county))
    parts.append(Markup("<p class='meta'>{}: {} · {}: {}</p>").format(
        g(N_("Figures as of")), _moment(a.as_of), g(N_("Generated at")), _moment(stamp)))
    parts.append(Markup("<h2>{}</h2>").format(g(N_("Analysis"))))
    parts += [Markup("<p>{}</p>").format(s) for s in analysis(a, lang)]
    for chart_title, drawn in charts:
        parts.append(Markup("<h2>{}</h2>").format(chart_title))
        parts.append(Markup("<figure>{}</figure>").format(Markup(drawn)))
    if not charts:
        parts.append(Markup("<h2>{}</h2>").format(g(BREAKDOWN_NAMES["month"])))
        months = dict((code, n) for code, _, n in a.breakdown["month"])
        parts.append(_bars([(m, m, months.get(m, 0)) for m in (f"{a.year}-{i:02d}" for i in range(1, 13))]))
    rated = [(r["name"] or r["code"], r["on_time_rate"]) for r in a.levels.get("township", [])
             if r["on_time_rate"] is not None]
    if rated and not charts:
        parts.append(Markup("<h2>{}</h2>").format(g(N_("On-time closure rate by township"))))
        parts.append(_rate_bars(rated))
    for level in PUBLISHED_LEVELS:
        parts.append(Markup("<h2>{}</h2>").format(g(indicators.LEVEL_NAMES[level])))
        parts.append(_table(indicators.headers(lang), indicator_rows(a.levels.get(level, [])), INDICATOR_PERCENT))
    for key in ("matter", "domain", "procedure", "outcome", "dispute"):
        parts.append(Markup("<h2>{}</h2>").format(g(BREAKDOWN_NAMES[key])))
        parts.append(_table([g(N_("Code")), g(N_("Name")), g(N_("Cases"))], a.breakdown.get(key, [])))
    parts.append(Markup("<h2>{}</h2>").format(g(N_("Delegation review"))))
    flagged = [r for r in a.review if r["flag"]]
    parts.append(_table(delegation_review.headers(lang), review_rows(flagged, lang), REVIEW_PERCENT))
    parts.append(Markup("<p class='meta'>{}</p>").format(a.scoring_source))
    style = ("body{font-family:'Noto Sans CJK SC','Microsoft YaHei',sans-serif;margin:2em;color:#222}"
             "table{border-collapse:collapse;font-size:11px;margin-bottom:1.5em}"
             "th,td{border:1px solid #999;padding:2px 4px;text-align:right}th{background:#eee}"
             "td:first-child,td:nth-child(2){text-align:left}.meta{color:#666;font-size:11px}"
             "@media print{body{margin:0}h2{page-break-after:avoid}table{page-break-inside:auto}}")
    html_lang = "en" if (lang or "").startswith("en") else "zh-CN"
    return (f'<!doctype html><html lang="{html_lang}"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{style}</style></head><body>{Markup('').join(parts)}</body></html>")

