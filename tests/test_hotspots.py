"""Gi* hotspots (analytics/hotspots.py) against PySAL: z-scores equal esda's G_Local(star=True) on the demo
county's reports and on NYC 311 (Jan–Feb 2025) within 1e-9, with neighbours built independently (a distance
band between projected cell centres, not H3's grid_disk); the FDR bins equal scipy's Benjamini–Hochberg."""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime, timedelta

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
from esda.getisord import G_Local
from libpysal.weights import DistanceBand
from scipy import stats

from analytics.hotspots import (
    CONFIDENCE_LEVELS,
    area_cells,
    bh_reject,
    count_cells,
    estimated_cells,
    hotspots,
    points_to_cells,
    ring_weights,
    study_area,
)
from analytics.sites import SiteParams, find_sites, params_for, project_m
from gis.demo import DemoCounty, build_demo_county
from tests.conftest import NYC311


@pytest.fixture(scope="module")
def demo() -> DemoCounty:
    return build_demo_county()


def esda_z(cells: list[str], counts: np.ndarray, utm: str, spacing_m: float) -> tuple[np.ndarray, set[tuple[int, int]]]:
    """esda's Gi* z with binary neighbours = cells whose centres are within 1.2 centre spacings (first ring)."""
    centres = gpd.GeoSeries(gpd.points_from_xy([h3.cell_to_latlng(c)[1] for c in cells],
                                               [h3.cell_to_latlng(c)[0] for c in cells]), crs="EPSG:4326").to_crs(utm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # islands (none expected) and libpysal's notices
        w = DistanceBand(np.column_stack([centres.x, centres.y]), threshold=1.2 * spacing_m, binary=True,
                         silence_warnings=True)
        g = G_Local(counts.astype(float), w, transform="B", star=True, permutations=0)
    pairs = {(i, j) for i, ns in w.neighbors.items() for j in ns}
    return np.asarray(g.Zs), pairs


def spacing(res: int) -> float:
    """Distance between neighbouring cell centres: √3 × the mean edge."""
    return float(np.sqrt(3) * h3.average_hexagon_edge_length(res, unit="m"))


def check_against_esda(cells: list[str], counts: np.ndarray, utm: str, res: int) -> None:
    ours = hotspots(cells, counts, k=1)
    z, pairs = esda_z(cells, counts, utm, spacing(res))
    w = ring_weights(cells, 1).tocoo()
    assert {(int(i), int(j)) for i, j in zip(w.row, w.col, strict=True) if i != j} == pairs  # same neighbours
    assert np.isfinite(z).all() and np.abs(ours.z - z).max() < 1e-9
    # Bins: two-sided p and Benjamini–Hochberg from scipy, independently of analytics' own step-up.
    p = 2 * stats.norm.sf(np.abs(z))
    adjusted = stats.false_discovery_control(p, method="bh")
    want = np.zeros(len(z), dtype=int)
    for level, conf in zip((1, 2, 3), sorted(CONFIDENCE_LEVELS), strict=True):
        sig = adjusted <= 1 - conf
        want[sig] = level * np.sign(z[sig]).astype(int)
    assert (ours.bins == want).all() and (want != 0).any()
    raw = np.where(p <= 0.10, np.sign(z), 0)  # without the correction at least as many are significant
    assert (np.abs(raw) >= np.abs(np.sign(want))).all()


def test_gi_star_equals_esda_on_the_demo_county(demo: DemoCounty) -> None:
    res = 8  # ~2,400 county cells (resolution 9 agrees too, at 14,000 cells and ten seconds)
    county = [u.geometry for u in demo.units if u.layer == "county" and u.geometry is not None]
    for matter in (None, "M-ENV-COAL"):
        chosen = [i for i in demo.incidents if matter is None or i.matter_code == matter]
        lon, lat = np.array([i.lon for i in chosen]), np.array([i.lat for i in chosen])
        counts = count_cells(points_to_cells(lon, lat, res))
        cells = study_area(counts, county, res, 1)
        assert set(counts) <= set(cells) and len(cells) > 5 * len(counts) // 4  # quiet cells are in, as zeros
        assert abs(estimated_cells(county, res) - len(area_cells(county, res))) < 0.03 * len(cells)  # the guard
        check_against_esda(cells, np.array([counts.get(c, 0) for c in cells]), "EPSG:32650", res)


def test_gi_star_equals_esda_on_nyc311() -> None:
    df = pd.read_csv(NYC311 / "nyc311_animals_2025_jan_feb.csv").dropna(subset=["Latitude", "Longitude"])
    res = 8
    counts = count_cells(points_to_cells(df["Longitude"].to_numpy(), df["Latitude"].to_numpy(), res))
    cells = study_area(counts, [], res, 1)  # no outline: the reported cells and their rings
    assert sum(counts.values()) == len(df) and len(cells) > len(counts)
    check_against_esda(cells, np.array([counts.get(c, 0) for c in cells]), "EPSG:32618", res)


def test_benjamini_hochberg_step_up_matches_scipy() -> None:
    rng = np.random.default_rng(5)
    p = np.concatenate([rng.uniform(0, 0.01, 30), rng.uniform(0, 1, 300), [0.05, 0.05, 1.0]])
    for alpha in (0.01, 0.05, 0.10):
        assert (bh_reject(p, alpha) == (stats.false_discovery_control(p) <= alpha)).all()
    assert not bh_reject(np.array([]), 0.05).any()


def test_degenerate_inputs_give_zero_not_nan() -> None:
    cell = h3.latlng_to_cell(36.8, 115.2, 9)
    ring = sorted(h3.grid_disk(cell, 2))
    for counts in (np.zeros(len(ring)), np.full(len(ring), 3.0)):  # nothing, or the same everywhere
        r = hotspots(ring, counts)
        assert (r.z == 0).all() and (r.p == 1).all() and (r.bins == 0).all()
    one = hotspots([cell], np.array([1.0]))  # a single cell: nothing to compare with
    assert one.z.tolist() == [0.0] and one.bins.tolist() == [0]
    empty = hotspots([], np.zeros(0))
    assert len(empty.z) == 0
    single = hotspots(ring, np.array([1.0 if c == cell else 0.0 for c in ring]))  # a single event
    assert np.isfinite(single.z).all() and single.z[ring.index(cell)] == single.z.max() > 0
    with pytest.raises(ValueError, match="k must be"):
        hotspots(ring, np.zeros(len(ring)), k=0)


def test_site_parameters_are_data_and_bursts_are_not_sites() -> None:
    assert params_for({}) == SiteParams()
    assert params_for({"sites": {"eps_m": 60, "min_reports": 4}}) == SiteParams(eps_m=60, min_reports=4)
    assert params_for({"sites": {"eps_m": 60}}, eps_m=30, min_reports=None).eps_m == 30  # the request wins
    with pytest.raises(ValueError, match="eps_m"):
        params_for({"sites": {"eps_m": 0}})
    for bad in (5, "x", [1], {"eps_m": "far"}, {"min_reports": 4.5}, {"min_weeks": True}, {"eps_m": float("nan")}):
        with pytest.raises(ValueError):  # free-form attributes: anything odd is a clear refusal, not a crash
            params_for({"sites": bad})
    # Ten reports at one yard on one day, ten more 40 m away over five weeks, ten scattered kilometres apart.
    base = datetime(2026, 9, 1, 8, tzinfo=UTC)
    lon0, lat0 = 115.2, 36.8
    dlon = 1 / (111_320 * np.cos(np.radians(lat0)))  # degrees per metre eastwards
    lon = [lon0] * 10 + [lon0 + 2000 * dlon + 40 * dlon * (i % 2) for i in range(10)] + [
        lon0 + 5000 * dlon * (i + 1) for i in range(10)]
    lat = [lat0] * 30
    at = [base] * 10 + [base + timedelta(days=4 * i) for i in range(10)] + [base] * 10
    found = find_sites(np.array(lon), np.array(lat), at, date(2026, 9, 1), date(2026, 11, 1), SiteParams())
    assert len(found) == 1 and found[0].reports == 10 and found[0].members == list(range(10, 20))
    assert found[0].active_weeks == len({(base + timedelta(days=4 * i)).isocalendar()[:2] for i in range(10)})
    assert 19 < found[0].radius_m < 21  # half of the 40 m between the two spots
    one_day = find_sites(np.array(lon), np.array(lat), at, date(2026, 9, 1), date(2026, 11, 1),
                         SiteParams(min_weeks=1))
    assert len(one_day) == 2  # the burst is dense enough; only min_weeks keeps it out
    # Reports on the far side of the world (a bad phone fix, a test point at 0, 0) have no transverse Mercator
    # position around these: they are noise, and the site is still found (a 500 before: DBSCAN refused infinity).
    # Two reports on the equator a quarter of the globe west of the 32 reports' mean: x = mean − 90 solves to
    # x = mean(lon) − 96 for two such reports among 30.
    x = float(np.mean(lon)) - 96
    far_lon, far_lat = np.array(lon + [x, x]), np.array(lat + [0.0, 0.0])
    assert not np.isfinite(project_m(far_lon, far_lat)[-1]).all()  # the case this is about
    far = find_sites(far_lon, far_lat, at + [base] * 2, date(2026, 9, 1), date(2026, 11, 1), SiteParams())
    assert [(s.reports, s.members) for s in far] == [(found[0].reports, found[0].members)]
