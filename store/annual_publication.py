"""The annual publication's four files from the store — workbook, GeoPackage of the year's cases, and the analysis
report as HTML and PDF with charts — made the same way for `gridgov annual` and `GET /publication/annual`."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path

import geopandas as gpd
from sqlalchemy.orm import Session

from analytics import annual_report, publication
from analytics.annual_report import Chart
from analytics.indicators import Scoring
from analytics.publication import Annual
from cases import clock
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


class AnnualPublication:
    """The year's publication, each file made on request from pieces made once and only when a file needs them
    (the workbook draws no chart, the report writes no GeoPackage): a county-year is small, all in memory."""

    def __init__(self, session: Session, user: User, year: int, county: str | None, calendar: WorkCalendar,
                 scoring: Scoring, now: datetime, lang: str) -> None:
        # The checks `indicator_facts.annual` makes, made here so that every file is refused alike (the GeoPackage
        # needs no figures, yet a year that cannot be published is not published in part).
        indicator_facts.check_year(year, now)
        indicator_facts.check_reader(user)
        indicator_facts.review_version(session, clock.from_wall(datetime(year + 1, 1, 1)), now)
        self.session, self.user, self.year, self.county = session, user, year, county
        self.calendar, self.scoring, self.now, self.lang = calendar, scoring, now, lang

    @cached_property
    def annual(self) -> Annual:
        return indicator_facts.annual(self.session, self.user, self.year, self.county, self.calendar, self.scoring,
                                      self.now, self.lang)

    @cached_property
    def cases(self) -> gpd.GeoDataFrame:
        return annual_cases.year_cases(self.session, self.user, self.year, self.county)

    @cached_property
    def charts(self) -> list[Chart]:
        towns = annual_cases.year_end_townships(self.session, self.year)
        located = self.cases[self.cases.geometry.notna()]
        return annual_report.charts(self.annual, towns, list(located.geometry.x), list(located.geometry.y),
                                    self.lang)

    def workbook(self) -> bytes:
        return publication.annual_workbook(self.annual, self.now, self.lang)

    def html(self) -> str:
        return publication.annual_html(self.annual, self.now, self.lang,
                                       charts=[(c.title, annual_report.svg(c.drawing)) for c in self.charts])

    def pdf(self) -> bytes:
        return annual_report.report_pdf(self.annual, self.charts, self.now, self.lang)

    def gpkg(self) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"annual-{self.year}.gpkg"
            annual_cases.write_gpkg(self.cases, path)
            return path.read_bytes()


def annual_files(session: Session, user: User, year: int, county: str | None, calendar: WorkCalendar,
                 scoring: Scoring, now: datetime, lang: str) -> AnnualFiles:
    """Every file of the year's publication (the figures, cases and charts computed once)."""
    made = AnnualPublication(session, user, year, county, calendar, scoring, now, lang)
    return AnnualFiles(annual=made.annual, workbook=made.workbook(), html=made.html(), pdf=made.pdf(),
                       gpkg=made.gpkg())
