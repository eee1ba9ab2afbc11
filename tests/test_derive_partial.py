"""`gridgov derive` with townships lacking a seat (real Qiu County data): derive the rest, say what is left."""

from __future__ import annotations

import csv
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Geod
from sqlalchemy.engine import Engine

from cli.main import app
from store.db import make_engine
from tests.conftest import table_counts
from tests.test_import import CODES, COUNTY_GCJ, gridgov, gridgov_fails, runner, summary, units

GEOD = Geod(ellps="WGS84")
NO_SEAT = "130430102000"  # 梁二庄镇: its seat removed for these tests
PARK = "130430400000"  # a development park entered as a township-level unit, with no seat
PARK_NAME = "邱县经济开发区"
NO_SEAT_RAW = "115.265597,36.72942"  # 梁二庄镇's seat in the code tree (GCJ-02)


@pytest.fixture
def partial_csv(tmp_path: Path) -> Path:
    """The real code tree with one township's seat removed and a seatless development park added."""
    with CODES.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        if row["code"] == NO_SEAT:
            assert f"{row['longitude']},{row['latitude']}" == NO_SEAT_RAW
            row["longitude"] = row["latitude"] = row["center"] = ""
    park = {**rows[1], "code": PARK, "name": PARK_NAME, "longitude": "", "latitude": "", "center": "",
            "town": PARK_NAME}
    path = tmp_path / "partial.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([*rows, park])
    return path


def _load(database_url: str, codes: Path) -> None:
    gridgov(database_url, "import", codes, "--crs", "gcj02")
    gridgov(database_url, "import", COUNTY_GCJ, "--crs", "gcj02", "--layer", "county", "--code", "130430000000")


def _derive(database_url: str, *args: str) -> tuple[str, str]:
    result = runner.invoke(app, ["derive", *args, "--database-url", database_url])
    assert result.exit_code == 0, f"{result.output}\n{result.stderr}"
    return result.stdout, result.stderr


def test_townships_with_seats_are_derived_the_others_listed(engine: Engine, database_url: str,
                                                            partial_csv: Path) -> None:
    _load(database_url, partial_csv)
    out, err = _derive(database_url)
    counts = summary(out, "derived")
    assert counts["township"] == "6" and counts["to_be_drawn_township"] == "2"
    # Both named with their codes, and what happens to their land said in words.
    for code, name in ((NO_SEAT, "梁二庄镇"), (PARK, PARK_NAME)):
        assert code in err and name in err
    assert "Voronoi" in err and "provisional_for" in err and "to be drawn" in err

    towns = {t.code: t for t in units(engine, "township")}
    county = units(engine, "county")[0].geometry
    assert towns[NO_SEAT].geometry is None and towns[PARK].geometry is None
    seated = {c: t for c, t in towns.items() if t.geometry is not None}
    assert len(seated) == 6 and all(t.derived for t in seated.values())
    for t in seated.values():  # flagged: each holds the seatless townships' land for now
        assert sorted(t.attributes["provisional_for"]) == sorted([NO_SEAT, PARK])

    # Independent check: the six cells partition the county, and random points lie in the cell of the nearest
    # seat (distances on the ellipsoid by pyproj, not the derive's local frame).
    frame = gpd.GeoDataFrame({"code": list(seated)}, geometry=[t.geometry for t in seated.values()], crs=4326)
    assert abs(frame.area.sum() - county.area) < 1e-9 * county.area
    assert frame.union_all().symmetric_difference(county).area < 1e-10
    rng = np.random.default_rng(1)
    minx, miny, maxx, maxy = county.bounds
    xy = np.column_stack((rng.uniform(minx, maxx, 4000), rng.uniform(miny, maxy, 4000)))
    xy = xy[shapely.contains_xy(county, xy[:, 0], xy[:, 1])]
    codes = list(seated)
    seats = np.array([seated[c].attributes["seat"] for c in codes])
    dist = np.stack([GEOD.inv(np.full(len(xy), sx), np.full(len(xy), sy), xy[:, 0], xy[:, 1])[2]
                     for sx, sy in seats], axis=1)
    nearest = np.array(codes)[dist.argmin(axis=1)]
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=4326)
    hit = gpd.sjoin(pts, frame, predicate="within").sort_index()
    assert hit.index.is_unique and len(hit) == len(pts)
    assert (hit["code"].to_numpy() == nearest).mean() >= 0.995

    # The seatless township's villages cannot be placed: all to be drawn, counted in to_be_drawn.
    villages = units(engine, "village")
    assert all(v.geometry is None for v in villages if v.parent_code == NO_SEAT)
    drawn = [v for v in villages if v.geometry is not None]
    assert int(counts["to_be_drawn"]) == 2 + len(villages) - len(drawn)

    # validate repeats it as a located warning over the townships holding that land, not an error.
    out = gridgov(database_url, "version", "validate", "1")
    line = next(ln for ln in out.splitlines() if "to_be_drawn:" in ln)
    assert "warning" in line and NO_SEAT in line and PARK in line
    assert summary(out, "validated")["errors"] == "0"


def test_a_seat_given_on_the_command_line_derives_that_township(engine: Engine, database_url: str,
                                                                partial_csv: Path, tmp_path: Path) -> None:
    _load(database_url, partial_csv)
    _derive(database_url)
    gridgov(database_url, "version", "validate", "1")  # its warning names the seatless townships; give a seat:
    out, err = _derive(database_url, "--seat", f"{NO_SEAT}={NO_SEAT_RAW}", "--crs", "gcj02")
    assert summary(out, "derived")["version"] == "1"  # the validated draft, not a new empty one
    counts = summary(out, "derived")
    assert counts["township"] == "7" and counts["to_be_drawn_township"] == "1"
    note = err.split("to be drawn:")[-1].split("Until")[0]
    assert PARK in note and NO_SEAT not in note
    towns = {t.code: t for t in units(engine, "township")}
    attrs = towns[NO_SEAT].attributes
    assert attrs["seat_raw"] == [115.265597, 36.72942] and attrs["seat_crs"] == "gcj02"
    assert 400 < GEOD.inv(*attrs["seat_raw"], *attrs["seat"])[2] < 700  # GCJ-02 converted, raw kept
    assert all(t.attributes["provisional_for"] == [PARK] for c, t in towns.items() if c != PARK)

    # The same seat from the command line gives exactly the partition of the unmodified code tree.
    other = f"sqlite:///{tmp_path / 'full.sqlite'}"
    _load(other, CODES)
    _derive(other)
    full_engine = make_engine(other)
    try:
        full = {t.code: t.geometry for t in units(full_engine, "township")}
    finally:
        full_engine.dispose()
    for code, geom in full.items():
        assert towns[code].geometry.symmetric_difference(geom).area < 1e-12, code


def test_bad_seats_are_refused_and_nothing_is_written(engine: Engine, database_url: str, partial_csv: Path) -> None:
    _load(database_url, partial_csv)
    before = table_counts(engine)
    assert "NOPE" in gridgov_fails(database_url, "derive", "--seat", "NOPE=115.2,36.8")
    assert "CODE=x,y" in gridgov_fails(database_url, "derive", "--seat", f"{NO_SEAT}=115.2")
    assert "outside the county" in gridgov_fails(database_url, "derive", "--seat", f"{NO_SEAT}=100,30")
    assert table_counts(engine) == before
    assert all(t.geometry is None for t in units(engine, "township"))


def test_no_seat_at_all_is_a_clear_refusal(engine: Engine, database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "noseats.csv"
    with CODES.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        if row["level"] == "town":
            row["longitude"] = row["latitude"] = row["center"] = ""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    _load(database_url, path)
    assert "--seat" in gridgov_fails(database_url, "derive")
