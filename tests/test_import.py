"""`gridgov import/derive/export` on the real Qiu County data and on broken input, on both backends."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import Geod
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from cli.main import app
from gis.crs import from_wgs84
from store.db import session_factory, transaction
from store.repo import Repository
from tests.conftest import QIU, table_counts

runner = CliRunner(env={"GRIDGOV_LANGUAGE": "en"})  # the English these tests read (zh-CN: test_i18n_cli)
CODES = QIU / "admin_units_130430_gcj02.csv"
COUNTY_GCJ = QIU / "county_130430_gcj02.geojson"
COUNTY_CGCS = QIU / "county_130430_cgcs2000_simplified.geojson"
GEOD = Geod(ellps="WGS84")


def gridgov(database_url: str, *args: str | Path) -> str:
    """Run the CLI; return stdout (asserting success)."""
    result = runner.invoke(app, [*map(str, args), "--database-url", database_url])
    assert result.exit_code == 0, f"{result.output}\n{result.stderr if result.stderr_bytes else ''}"
    return result.stdout


def gridgov_fails(database_url: str, *args: str | Path) -> str:
    """Run the CLI expecting a refusal (exit 2); return the error text."""
    result = runner.invoke(app, [*map(str, args), "--database-url", database_url])
    assert result.exit_code == 2, result.output
    return result.stderr


def summary(output: str, verb: str = "imported") -> dict[str, str]:
    """The key=value pairs of the last `verb …` line."""
    line = [ln for ln in output.splitlines() if ln.startswith(verb + " ")][-1]
    return dict(re.findall(r"(\w+)=(\S+)", line))


def load_qiu(database_url: str) -> None:
    gridgov(database_url, "import", CODES, "--crs", "gcj02")
    gridgov(database_url, "import", COUNTY_GCJ, "--crs", "gcj02", "--layer", "county", "--code", "130430000000")


def units(engine: Engine, layer: str | None = None) -> list:  # type: ignore[type-arg]
    with transaction(session_factory(engine)) as session:
        repo = Repository(session)
        return repo.units(repo.versions()[-1].id or 0, layer)


def test_qiu_code_tree_imports_every_unit_with_codes(engine: Engine, database_url: str) -> None:
    counts = summary(gridgov(database_url, "import", CODES, "--crs", "gcj02"))
    assert (counts["county"], counts["township"], counts["village"]) == ("1", "7", "225")
    got = {u.code: u for u in units(engine)}
    csv = pd.read_csv(CODES, dtype=str)
    for row in csv.itertuples():
        unit = got[row.code]
        assert unit.name == row.name
        if row.level == "village":
            assert unit.attributes["ur_code"] == row.ur_code and unit.parent_code == row.parent
            assert unit.geometry is None  # nothing invented
    seat = got["130430100000"].attributes
    assert seat["seat_raw"] == [115.167083, 36.811914] and seat["seat_crs"] == "gcj02"
    shift = GEOD.inv(*seat["seat_raw"], *seat["seat"])[2]
    assert 400 < shift < 700  # the GCJ-02 offset was removed, the raw point kept


def test_gcj02_county_converted_matches_cgcs2000_file(engine: Engine, database_url: str) -> None:
    load_qiu(database_url)
    county = units(engine, "county")[0]
    assert county.raw_crs == "gcj02" and county.raw_geometry is not None
    reference = gpd.read_file(COUNTY_CGCS).geometry.iloc[0]

    def centroid_m_and_iou(geom: shapely.Geometry) -> tuple[float, float]:
        a, b = geom.centroid, reference.centroid
        return GEOD.inv(a.x, a.y, b.x, b.y)[2], geom.intersection(reference).area / geom.union(reference).area

    dist, iou = centroid_m_and_iou(county.geometry)
    raw_dist, raw_iou = centroid_m_and_iou(county.raw_geometry)
    assert dist < 100 and iou >= 0.93
    assert 450 < raw_dist < 650 and raw_iou < 0.9  # unconverted they disagree, as SOURCE.md says
    seats = gpd.GeoSeries([shapely.Point(u.attributes["seat"]) for u in units(engine, "township")])
    assert seats.within(county.geometry).all()


def test_derive_partitions_qiu_county_and_lists_villages_to_draw(engine: Engine, database_url: str) -> None:
    load_qiu(database_url)
    out = gridgov(database_url, "derive")
    counts = summary(out, "derived")
    assert counts["township"] == "7"
    towns = units(engine, "township")
    county = units(engine, "county")[0].geometry
    frame = gpd.GeoDataFrame({"code": [t.code for t in towns]}, geometry=[t.geometry for t in towns], crs=4326)
    assert all(t.derived for t in towns)
    # Independent check: overlay areas, union against the county, random points covered exactly once.
    overlaps = gpd.overlay(frame, frame.rename(columns={"code": "other"}), how="intersection", keep_geom_type=True)
    overlaps = overlaps[overlaps.code != overlaps.other]
    assert overlaps.geometry.area.sum() < 1e-12
    assert abs(frame.area.sum() - county.area) < 1e-9 * county.area
    assert frame.union_all().symmetric_difference(county).area < 1e-10
    rng = np.random.default_rng(0)
    minx, miny, maxx, maxy = county.bounds
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(rng.uniform(minx, maxx, 3000), rng.uniform(miny, maxy, 3000)),
                           crs=4326)
    pts = pts[pts.within(county)]
    hits = gpd.sjoin(pts, frame, predicate="within").groupby(level=0).size()
    assert len(hits) == len(pts) and (hits == 1).all()
    villages = units(engine, "village")
    drawn = [v for v in villages if v.geometry is not None]
    assert 1 <= len(drawn) <= 8 and all(v.derived for v in drawn)
    assert int(counts["to_be_drawn"]) == 225 - len(drawn)
    by_code = {t.code: t.geometry for t in towns}
    for v in drawn:
        assert by_code[v.parent_code].covers(v.geometry)
        radius = max(GEOD.inv(*v.attributes["seat"], x, y)[2] for x, y in shapely.get_coordinates(v.geometry))
        assert radius < 1010  # bounded around the known point: no invented village shapes


def test_export_round_trips_through_geojson_and_geopackage(engine: Engine, database_url: str, tmp_path: Path) -> None:
    load_qiu(database_url)
    gridgov(database_url, "derive")
    out = summary(gridgov(database_url, "export", tmp_path / "qiu.gpkg"), "exported")
    assert (out["county"], out["township"], out["village"]) == ("1", "7", "225")
    layers = dict(pyogrio.list_layers(tmp_path / "qiu.gpkg"))
    assert set(layers) == {"county", "township", "village"}
    village = gpd.read_file(tmp_path / "qiu.gpkg", layer="village")
    assert len(village) == 225 and village.crs.to_epsg() == 4326
    assert village.to_be_drawn.sum() == village.geometry.isna().sum() > 200
    gridgov(database_url, "export", tmp_path / "qiu.geojson")
    doc = json.loads((tmp_path / "qiu.geojson").read_text(encoding="utf-8"))
    assert "crs" not in doc and len(doc["features"]) == 233  # RFC 7946: WGS84, no crs member
    # Re-import the export into a fresh version: same geometry, names and attributes.
    created = gridgov(database_url, "version", "create", "copy")
    vid = re.search(r"version=(\d+)", created).group(1)  # type: ignore[union-attr]
    for layer in ("county", "township", "village"):
        gridgov(database_url, "import", tmp_path / "qiu.gpkg", "--source-layer", layer, "--version", vid)
    with transaction(session_factory(engine)) as session:
        repo = Repository(session)
        first, second = ({u.code: u for u in repo.units(v)} for v in (1, int(vid)))
    assert first.keys() == second.keys()
    for code, unit in first.items():
        again = second[code]
        assert (again.name, again.layer, again.parent_code, again.derived) == (
            unit.name, unit.layer, unit.parent_code, unit.derived)
        assert again.attributes.items() >= unit.attributes.items()
        if unit.geometry is None:
            assert again.geometry is None
        else:
            assert again.geometry.equals_exact(unit.geometry, 1e-12)


def test_geopackage_shapefile_and_projected_input(engine: Engine, database_url: str, tmp_path: Path) -> None:
    lon, lat = 115.2, 36.8
    box = shapely.box(lon - 0.1, lat - 0.1, lon + 0.1, lat + 0.1)
    utm = gpd.GeoSeries([box], crs=4326).to_crs(32650)
    gpd.GeoDataFrame({"code": ["C1"], "name": ["县"], "layer": ["county"]}, geometry=utm).to_file(
        tmp_path / "county.shp")
    counts = summary(gridgov(database_url, "import", tmp_path / "county.shp"))
    assert counts["county"] == "1"
    county = units(engine, "county")[0]
    assert county.raw_crs == "EPSG:32650"
    assert shapely.get_coordinates(county.geometry).max(axis=0) == pytest.approx([lon + 0.1, lat + 0.1], abs=1e-6)
    cgcs = gpd.GeoDataFrame({"code": ["T1"], "name": ["镇"], "parent_code": ["C1"]},
                            geometry=[box.buffer(-0.01)], crs=4490)
    cgcs.to_file(tmp_path / "towns.gpkg", layer="towns", driver="GPKG")
    counts = summary(gridgov(database_url, "import", tmp_path / "towns.gpkg", "--layer", "township"))
    assert counts["township"] == "1"
    assert units(engine, "township")[0].raw_crs == "cgcs2000"
    bd = gpd.GeoDataFrame({"code": ["V1"], "name": ["村"], "parent_code": ["T1"], "layer": ["village"]},
                          geometry=[shapely.transform(box.buffer(-0.02), lambda c: np.column_stack(
                              from_wgs84(c[:, 0], c[:, 1], "bd09")))], crs=4326)  # BD-09 files claim WGS84
    bd.to_file(tmp_path / "village.geojson")
    gridgov(database_url, "import", tmp_path / "village.geojson", "--crs", "bd09")
    village = units(engine, "village")[0].geometry
    assert village.symmetric_difference(box.buffer(-0.02)).area < 1e-12


def write_geojson(path: Path, features: list[dict]) -> Path:  # type: ignore[type-arg]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def feature(code: str, coords: list, layer: str = "county", **props: object) -> dict:  # type: ignore[type-arg]
    return {"type": "Feature", "properties": {"code": code, "name": code, "layer": layer, **props},
            "geometry": {"type": "Polygon", "coordinates": [coords]}}


SQUARE = [[115.0, 36.0], [115.2, 36.0], [115.2, 36.2], [115.0, 36.2], [115.0, 36.0]]
BOWTIE = [[115.0, 36.0], [115.2, 36.2], [115.2, 36.0], [115.0, 36.2], [115.0, 36.0]]


@pytest.mark.parametrize(
    ("name", "content", "args", "message"),
    [
        ("broken.csv", "code,parent,name,level\n1,,县,county\n2,1,镇,town,extra\n3,1,,village\n", [],
         r"broken.csv:3: 5 fields where the header has 4"),
        ("levels.csv", "code,parent,name,level\n1,,县,county\n2,1,镇,city\n", [],
         r"levels.csv:3: unknown level 'city'"),
        ("nan.csv", "code,parent,name,level,longitude,latitude\n1,,县,county,nan,36\n", [],
         r"nan.csv:2: longitude/latitude 'nan', '36' are not finite"),
        ("parent.csv", "code,parent,name,level\n1,,县,county\n2,9,镇,town\n", [], r"unknown parent code 9"),
        ("dup.csv", "code,parent,name,level\n1,,县,county\n2,1,镇,town\n2,1,乡,town\n", [],
         r"dup.csv:4: duplicate code 2 \(first at dup.csv:3\)"),
        ("crs.csv", "code,parent,name,level\n1,,县,county\n", ["--crs", "mars"], r"unknown CRS|mars"),
        ("nocols.csv", "id,name\n1,x\n", [], r"missing column\(s\) code, parent, level"),
        ("metres.geojson", [feature("C", [[500000, 4000000], [510000, 4000000], [510000, 4010000],
                                          [500000, 4000000]])], [], r"projected metres|out of .*range"),
        ("empty.geojson", [{"type": "Feature", "properties": {"code": "C", "layer": "county"},
                            "geometry": {"type": "Polygon", "coordinates": []}}], [], r"feature 1: empty geometry"),
        ("line.geojson", [{"type": "Feature", "properties": {"code": "C", "layer": "county"},
                           "geometry": {"type": "LineString", "coordinates": [[115, 36], [115.1, 36.1]]}}], [],
         r"LineString is not a polygon"),
        ("bowtie.geojson", [feature("C", BOWTIE)], ["--strict"], r"invalid polygon \(Self-intersection"),
        ("nocode.geojson", [feature("", SQUARE)], [], r"feature 1: no code"),
        ("layer.geojson", [feature("C", SQUARE, layer="planet")], [], r"unknown layer 'planet'"),
        ("outside.geojson", [feature("C", SQUARE), feature("T", [[116, 36], [116.1, 36], [116.1, 36.1], [116, 36]],
                                                           layer="township", parent_code="C")], [],
         r"100.00% of T lies outside its parent C"),
        ("type.txt", "whatever", [], r"unknown file type '.txt'"),
    ],
)
def test_bad_input_is_refused_with_location_and_nothing_written(
    engine: Engine, database_url: str, tmp_path: Path, name: str, content: str | list, args: list[str],  # type: ignore[type-arg]
    message: str,
) -> None:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        write_geojson(path, content)
    gridgov(database_url, "db", "upgrade")
    before = table_counts(engine)
    error = gridgov_fails(database_url, "import", path, *args)
    assert re.search(message, error), error
    assert table_counts(engine) == before


def test_invalid_polygon_is_repaired_and_reported(engine: Engine, database_url: str, tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "bowtie.geojson", [feature("C", BOWTIE)])
    result = runner.invoke(app, ["import", str(path), "--database-url", database_url])
    assert result.exit_code == 0, result.output
    assert "repaired invalid polygon (Self-intersection" in result.stderr
    assert summary(result.stdout)["repaired"] == "1"
    county = units(engine, "county")[0]
    assert county.geometry.is_valid and len(county.geometry.geoms) == 2
    assert county.raw_geometry is not None and not county.raw_geometry.is_valid  # the raw input is kept


def test_failure_midway_through_a_file_rolls_back_everything(engine: Engine, database_url: str, tmp_path: Path) -> None:
    gridgov(database_url, "import", CODES, "--crs", "gcj02")
    before = table_counts(engine)
    good = feature("130430000000", SQUARE)
    bad = feature("130430100000", [[120, 30], [120.1, 30], [120.1, 30.1], [120, 30]], layer="township")
    path = write_geojson(tmp_path / "mixed.geojson", [good, bad])
    error = gridgov_fails(database_url, "import", path)
    assert "130430100000 lies outside its parent 130430000000" in error
    assert table_counts(engine) == before
    assert units(engine, "county")[0].geometry is None
