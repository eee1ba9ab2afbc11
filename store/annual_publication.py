"""The annual publication's four files from the store — workbook, GeoPackage of the year's cases, and the analysis
report as HTML and PDF with charts — made the same way for `gridgov annual` and `GET /publication/annual`."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from analytics import annual_report, publication
from analytics.indicators import Scoring
from analytics.publication import Annual
from cases.calendar import WorkCalendar
from store import annual_cases, indicator_facts
from store.users import User


@dataclass(frozen=True)
class AnnualFiles:
    annual: Annual
    workbook: bytes
    html: str
    pdf: bytes
    gpkg: bytes


def annual_files(session: Session, user: User, year: int, county: str | None, calendar: WorkCalendar,
                 scoring: Scoring, now: datetime, lang: str) -> AnnualFiles:
    """Every file of the year's publication (computed once, in memory: a county-year is small)."""
    annual = indicator_facts.annual(session, user, year, county, calendar, scoring, now, lang)
    cases = annual_cases.year_cases(session, user, year, county)
    towns = annual_cases.year_end_townships(session, year)
    located = cases[cases.geometry.notna()]
    made = annual_report.charts(annual, towns, list(located.geometry.x), list(located.geometry.y), lang)
    html = publication.annual_html(annual, now, lang, charts=[(c.title, annual_report.svg(c.drawing)) for c in made])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"annual-{year}.gpkg"
        annual_cases.write_gpkg(cases, path)
        gpkg = path.read_bytes()
    return AnnualFiles(annual=annual, workbook=publication.annual_workbook(annual, now, lang), html=html,
                       pdf=annual_report.report_pdf(annual, made, now, lang), gpkg=gpkg)
