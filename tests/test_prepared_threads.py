"""Threads sharing one router's prepared polygons (`gis.prepared`).

GEOS does not guard a prepared polygon's lazily built index against two threads (libgeos/geos#825), and the
HTTP threadpool and Dask worker threads share each version's shapes. Without `gis.prepared`'s lock this test
dies within its first rounds (`free(): double free detected in tcache 2`). Eight threads start at once on fresh,
never-queried shapes with points on and near their edges; every thread must get what one thread alone gets,
and that answer is shapely's `covered_by`."""

from __future__ import annotations

import threading

import numpy as np
import shapely

from gis.demo import build_demo_county
from gis.routing.regions import Region, Regions, build_regions
from tests.test_routing_exact import edge_points

THREADS = 8
ROUNDS = 4


def _fresh(regions: list[Region]) -> Regions:
    """The same regions over new shape objects: prepared by `Regions`, never queried."""
    return Regions([Region(r.id, r.code, r.layer, r.kind, r.parent_code,
                           shapely.from_wkb(shapely.to_wkb(r.shape)), r.cells_by_res) for r in regions])


def test_threads_sharing_fresh_prepared_shapes_get_one_thread_s_answer() -> None:
    demo = build_demo_county(urban_grid_units=2_500)
    polygons = [u.geometry for u in demo.units if u.geometry is not None]
    lon, lat = edge_points(polygons, 10_000, 10_000, seed=11)
    regions = build_regions(demo.units, demo.rules)
    alone = _fresh(regions).covering(lon, lat)

    for _ in range(ROUNDS):
        shared = _fresh(regions)
        start = threading.Barrier(THREADS)
        answers: list[tuple[np.ndarray, np.ndarray]] = []
        errors: list[BaseException] = []

        def work(shared: Regions = shared, start: threading.Barrier = start,
                 answers: list[tuple[np.ndarray, np.ndarray]] = answers, errors: list[BaseException] = errors) -> None:
            try:
                start.wait()
                answers.append(shared.covering(lon, lat))
            except BaseException as e:  # noqa: BLE001 - carried to the test's thread
                errors.append(e)

        threads = [threading.Thread(target=work) for _ in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and len(answers) == THREADS
        for pts, regs in answers:
            assert np.array_equal(pts, alone[0]) and np.array_equal(regs, alone[1])

    # The answer is covers: for polygon regions, each (point, region) pair is exactly shapely's.
    shared = _fresh(regions)
    by_id = {r.id: r for r in shared.polygons}
    mine = {(int(p), int(r)) for p, r in zip(*alone, strict=True) if int(r) in by_id}
    ids = np.array(sorted(by_id))
    tree = shapely.STRtree(np.array([by_id[i].shape for i in ids], dtype=object))
    pi, si = tree.query(shapely.points(lon, lat), predicate="covered_by")
    assert mine == {(int(p), int(ids[s])) for p, s in zip(pi, si, strict=True)}
