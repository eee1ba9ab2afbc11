"""Topology checks, each located problem checked against an independent geopandas overlay."""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import pytest
import shapely

from gis.crs import metres_per_degree
from gis.demo import build_demo_county
from gis.model import Unit
from gis.topology import TopologyOptions, check_topology
from i18n import language

LAT = 36.1
KX, KY = metres_per_degree(LAT)


def m2(area_deg2: float) -> float:
    return area_deg2 * KX * KY


def tiled() -> list[Unit]:
    """A county of 2 townships, each of 3 villages, tiling exactly."""
    units = [Unit(code="C", name="县", layer="county", geometry=shapely.box(115.0, 36.0, 115.6, 36.2))]
    for t in range(2):
        x0 = 115.0 + 0.3 * t
        units.append(Unit(code=f"T{t}", name=f"乡{t}", layer="township", parent_code="C",
                          geometry=shapely.box(x0, 36.0, x0 + 0.3, 36.2)))
        for v in range(3):
            units.append(Unit(code=f"V{t}{v}", name=f"村{t}{v}", layer="village", parent_code=f"T{t}",
                              geometry=shapely.box(x0 + 0.1 * v, 36.0, x0 + 0.1 * (v + 1), 36.2)))
    return units


def replace(units: list[Unit], code: str, geometry: shapely.Geometry) -> list[Unit]:
    return [u.model_copy(update={"geometry": geometry}) if u.code == code else u for u in units]


def errors(problems: list) -> list:  # type: ignore[type-arg]
    return [p for p in problems if p.severity == "error"]


def test_an_exact_tiling_has_no_problems() -> None:
    assert check_topology(tiled()) == []


def test_an_overlap_is_located_and_measured_like_geopandas_finds_it() -> None:
    grown = shapely.box(115.0, 36.0, 115.137, 36.2)  # V00 pushed 0.037° into V01
    units = replace(tiled(), "V00", grown)
    problems = check_topology(units)
    (overlap,) = [p for p in problems if p.check == "overlap"]
    assert overlap.codes == ("V00", "V01")
    villages = gpd.GeoDataFrame({"code": [u.code for u in units if u.layer == "village"]},
                                geometry=[u.geometry for u in units if u.layer == "village"], crs=4326)
    pairs = gpd.overlay(villages, villages, how="intersection", keep_geom_type=True)
    pairs = pairs[pairs["code_1"] < pairs["code_2"]]
    expected = pairs[pairs.geometry.area > 0]
    assert len(expected) == 1 and overlap.geometry.symmetric_difference(expected.geometry.iloc[0]).area < 1e-12
    assert overlap.area_m2 == pytest.approx(m2(expected.geometry.iloc[0].area), rel=2e-3)
    feature = overlap.feature()  # its message in the current language: Chinese by default, names first
    assert feature["geometry"]["type"] == "Polygon"
    assert "村00（V00）与村01（V01）重叠" in feature["properties"]["message"]
    with language("en"):
        assert "overlap by" in overlap.feature()["properties"]["message"] and "overlap by" in overlap.message


def test_gaps_and_parts_outside_the_parent_match_geopandas() -> None:
    units = replace(tiled(), "V11", shapely.box(115.4, 36.0, 115.5, 36.17))  # leaves a strip of T1 uncovered
    units = replace(units, "V12", shapely.box(115.5, 36.0, 115.65, 36.2))  # sticks out of the county and T1
    problems = errors(check_topology(units))
    gap = next(p for p in problems if p.check == "gap")
    township = gpd.GeoSeries([u.geometry for u in units if u.code == "T1"], crs=4326)
    kids = gpd.GeoSeries([u.geometry for u in units if u.parent_code == "T1"], crs=4326)
    expected_gap = township.difference(kids.union_all()).iloc[0]
    assert gap.codes == ("T1",) and gap.geometry.symmetric_difference(expected_gap).area < 1e-12
    outside = [p for p in problems if p.check == "outside_parent"]
    assert [p.codes for p in outside] == [("V12", "T1")]
    assert outside[0].geometry.equals(shapely.box(115.6, 36.0, 115.65, 36.2).normalize()) or \
        outside[0].geometry.symmetric_difference(shapely.box(115.6, 36.0, 115.65, 36.2)).area < 1e-12


def test_allowed_gaps_and_undrawn_children_soften_gaps() -> None:
    lake = shapely.box(115.4, 36.17, 115.5, 36.2)
    units = replace(tiled(), "V11", shapely.box(115.4, 36.0, 115.5, 36.17))
    assert errors(check_topology(units, TopologyOptions(allowed_gaps=(lake,)))) == []
    undrawn = replace(tiled(), "V11", None)
    (gap,) = check_topology(undrawn)
    assert (gap.check, gap.severity, gap.extra["to_be_drawn"]) == ("gap", "warning", ["V11"])


def test_invalid_geometry_is_located_where_it_crosses() -> None:
    bowtie = shapely.Polygon([(115.0, 36.0), (115.1, 36.2), (115.1, 36.0), (115.0, 36.2)])
    (problem,) = [p for p in check_topology(replace(tiled(), "V00", bowtie)) if p.check == "validity"]
    assert "Self-intersection" in problem.message
    assert problem.geometry.distance(shapely.Point(115.05, 36.1)) < 1e-9


def test_slivers_and_cell_collisions() -> None:
    leftover = shapely.box(115.0999, 36.1, 115.0999 + 1e-6, 36.105)  # 9 cm × 555 m, left by a redraw
    units = replace(tiled(), "V00", shapely.MultiPolygon([shapely.box(115.0, 36.0, 115.0998, 36.2), leftover]))
    (sliver,) = [p for p in check_topology(units) if p.severity == "warning"]
    assert sliver.check == "sliver" and sliver.geometry.equals(leftover) and sliver.area_m2 < 60
    cell = h3.latlng_to_cell(36.1, 115.05, 9)
    child = h3.cell_to_children(h3.latlng_to_cell(36.1, 115.15, 8), 9)[0]
    grids = [Unit(code="G1", name="网格1", layer="grid", parent_code="V00", cells=[cell]),
             Unit(code="G2", name="网格2", layer="grid", parent_code="V00", cells=[cell]),
             Unit(code="G3", name="网格3", layer="grid", parent_code="V01", cells=[h3.cell_to_parent(child, 8)]),
             Unit(code="G4", name="网格4", layer="grid", parent_code="V01", cells=[child])]
    collisions = [p for p in check_topology(tiled() + grids) if p.check == "cell_collision"]
    assert sorted(p.codes for p in collisions) == [("G1", "G2"), ("G3", "G4")]


def test_a_unit_in_pieces_is_flagged_where_the_pieces_are() -> None:
    exclave = shapely.box(115.45, 36.05, 115.5, 36.1)  # V00 keeps a piece inside T1, 0.35° east
    pieces = shapely.MultiPolygon([shapely.box(115.0, 36.0, 115.1, 36.2), exclave])
    units = replace(tiled(), "V00", pieces)
    (detached,) = [p for p in check_topology(units) if p.check == "detached"]
    assert detached.codes == ("V00",) and detached.severity == "warning" and detached.geometry.equals(exclave)
    # Independently: the distance between the pieces on a local metric plane (pyproj's azimuthal equidistant).
    import pyproj

    local = pyproj.Transformer.from_crs(4326, "+proj=aeqd +lat_0=36.1 +lon_0=115.25 +units=m", always_xy=True)

    def metric(g: shapely.Geometry) -> shapely.Geometry:
        return shapely.transform(g, lambda xy: np.column_stack(local.transform(xy[:, 0], xy[:, 1])))

    gap = metric(shapely.box(115.0, 36.0, 115.1, 36.2)).distance(metric(exclave))
    assert detached.extra["distance_m"] == pytest.approx(gap, rel=0.01)
    assert detached.area_m2 == pytest.approx(metric(exclave).area, rel=0.01)
    # Zones may come in pieces (a sliver piece is a sliver, not a second part: test_slivers_and_cell_collisions).
    park = Unit(code="Z1", name="园区", layer="zone", kind="dev_zone", geometry=pieces)
    assert [p for p in check_topology([*tiled(), park]) if p.check == "detached"] == []
    assert [p for p in check_topology(tiled()) if p.check == "detached"] == []


def test_the_demo_county_is_clean_and_geopandas_agrees() -> None:
    demo = build_demo_county(seed=7, months=1)
    problems = check_topology(demo.units)
    assert errors(problems) == []
    villages = gpd.GeoDataFrame(geometry=[u.geometry for u in demo.units if u.layer == "village"], crs=4326)
    pairs = gpd.sjoin(villages, villages, predicate="overlaps")
    overlap = sum(villages.geometry.iloc[i].intersection(villages.geometry.iloc[j]).area
                  for i, j in zip(pairs.index, pairs["index_right"], strict=True) if i < j)
    assert m2(overlap) < 1.0  # the independent check agrees: no village overlap worth a square metre
