"""Emerging hot spots (analytics/emerging.py): the space-time Gi* equals esda's G_Local(star=True) on the
flattened cube with space-time neighbours built independently (h3.are_neighbor_cells, earlier steps), and
synthetic cubes whose pattern is known by construction get that pattern (README "Hotspots" defines them)."""

from __future__ import annotations

import warnings
from datetime import date

import h3
import numpy as np
import pytest
from esda.getisord import G_Local
from libpysal.weights import W

from analytics.emerging import classify, cube, emerging, patterns_of, space_time_z, step_index, whole_steps
from analytics.hotspots import ring_weights

CENTRE = h3.latlng_to_cell(36.8, 115.2, 9)
AREA = sorted(h3.grid_disk(CENTRE, 4))  # 61 cells
TARGET = AREA.index(CENTRE)
RING = [AREA.index(c) for c in h3.grid_disk(CENTRE, 1)]  # the target and its six neighbours
FAR = AREA.index(sorted(h3.grid_ring(CENTRE, 4))[0])
STEPS = 10
BACKGROUND = 4.0


@pytest.mark.parametrize("time_k", [0, 1, 2])
def test_space_time_gi_star_equals_esda(time_k: int) -> None:
    cells = sorted(h3.grid_disk(CENTRE, 3))
    steps = 7
    counts = np.random.default_rng(time_k).poisson(1.5, size=(len(cells), steps)).astype(float)
    counts[3, 4:] += 6  # something to find
    neighbours: dict[int, list[int]] = {}
    for i, a in enumerate(cells):
        near = [j for j, b in enumerate(cells) if j == i or h3.are_neighbor_cells(a, b)]
        for t in range(steps):
            neighbours[i * steps + t] = [j * steps + s for j in near for s in range(max(0, t - time_k), t + 1)
                                         if (j, s) != (i, t)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = G_Local(counts.ravel(), W(neighbours, silence_warnings=True), transform="B", star=True, permutations=0)
    ours = space_time_z(counts, ring_weights(cells, 1), time_k)
    assert np.abs(ours.ravel() - g.Zs).max() < 1e-9


def cube_with(target: list[float] | None = None, ring: list[float] | None = None) -> np.ndarray:
    """The background everywhere; the target cell's series, or the target-and-neighbours' series."""
    c = np.full((len(AREA), STEPS), BACKGROUND)
    if ring is not None:
        c[RING] = np.array(ring)[None, :]
    if target is not None:
        c[TARGET] = target
    return c


def steps_at(value: float, where: list[int], other: float = BACKGROUND) -> list[float]:
    return [value if t in where else other for t in range(STEPS)]


HOT, COLD = 12.0, 0.0
ALL = list(range(STEPS))
CASES = {
    "new_hot": cube_with(target=steps_at(HOT, [9])),
    "consecutive_hot": cube_with(target=steps_at(HOT, [6, 7, 8, 9])),
    "intensifying_hot": cube_with(target=[12.0 + t // 2 for t in range(STEPS)]),  # 12, 12, 13, … 16
    "persistent_hot": cube_with(target=steps_at(HOT, ALL)),
    "diminishing_hot": cube_with(target=[16.0 - t // 2 for t in range(STEPS)]),
    "sporadic_hot": cube_with(target=steps_at(HOT, [1, 4, 9])),
    "oscillating_hot": cube_with(ring=steps_at(COLD, [2]), target=steps_at(HOT, [4, 9], other=BACKGROUND)[:2]
                                 + [COLD] + steps_at(HOT, [4, 9])[3:]),
    "historical_hot": cube_with(target=steps_at(HOT, list(range(9)))),
    "new_cold": cube_with(ring=steps_at(COLD, [9])),
    "consecutive_cold": cube_with(ring=steps_at(COLD, [6, 7, 8, 9])),
    "intensifying_cold": cube_with(ring=[2, 2, 2, 1, 1, 1, 1, 0, 0, 0]),
    "persistent_cold": cube_with(ring=steps_at(COLD, ALL)),
    "diminishing_cold": cube_with(ring=[0, 0, 0, 1, 1, 1, 1, 2, 2, 2]),
    "sporadic_cold": cube_with(ring=steps_at(COLD, [1, 4, 9])),
    "oscillating_cold": cube_with(ring=steps_at(COLD, [4, 9]), target=steps_at(COLD, [4, 9])[:2] + [HOT]
                                  + steps_at(COLD, [4, 9])[3:]),
    "historical_cold": cube_with(ring=steps_at(COLD, list(range(9)))),
}


@pytest.mark.parametrize("pattern", sorted(CASES))
def test_synthetic_cube_gets_its_pattern(pattern: str) -> None:
    # Each step on its own (time_k=0) and no FDR: the construction alone says which bins are hot or cold.
    r = emerging(AREA, CASES[pattern], k=1, time_k=0, confidence=0.90, fdr=False)
    assert r.patterns[TARGET] == pattern, (r.z[TARGET].round(2), r.trends[TARGET])
    assert r.patterns[FAR] == "none"
    assert np.isfinite(r.z).all()


@pytest.mark.parametrize("fdr", [True, False])
def test_patterns_of_a_few_cells_equal_the_whole_analysis(fdr: bool) -> None:
    # The recurring sites ask for the pattern of a handful of cells: the trend test runs only there, but the
    # significance (with FDR over every bin) is the whole cube's, so the answer is emerging()'s.
    rng = np.random.default_rng(5)
    counts = rng.poisson(1.0, size=(len(AREA), STEPS)).astype(float)
    counts[TARGET, 5:] += 7
    counts[FAR, :3] += 6
    whole = emerging(AREA, counts, k=1, time_k=1, fdr=fdr)
    assert len(set(whole.patterns)) > 1  # something for the few to agree with
    for pick in ([TARGET], [FAR, TARGET], sorted(rng.choice(len(AREA), 12, replace=False).tolist())):
        wanted = [AREA[i] for i in pick] + ["89283082803ffff"]  # a cell outside the cube is left out
        got = patterns_of(AREA, counts, wanted, k=1, time_k=1, fdr=fdr)
        assert got == {AREA[i]: whole.patterns[i] for i in pick}
    for pattern, cube_ in CASES.items():
        assert patterns_of(AREA, cube_, [AREA[TARGET]], k=1, time_k=0, fdr=False) == {AREA[TARGET]: pattern}


def test_uniform_and_empty_cubes_have_no_pattern() -> None:
    for counts in (np.zeros((len(AREA), STEPS)), np.full((len(AREA), STEPS), 2.0)):
        r = emerging(AREA, counts)
        assert set(r.patterns) == {"none"} and (r.z == 0).all()
    one = emerging(AREA[:1], np.array([[3.0]]))
    assert one.patterns == ["none"]


def test_classification_rules_at_their_edges() -> None:
    f, t = False, True
    never = np.zeros(STEPS, dtype=bool)
    # 9 of 10 steps is "most" (⌈0.9 × 10⌉); 8 of 10 is not.
    nine = np.array([f] + [t] * 9)
    assert classify(nine, never, "no trend") == "persistent_hot"
    eight = np.array([f, f] + [t] * 8)
    assert classify(eight, never, "no trend") == "consecutive_hot"
    # Two runs ending at the final step: sporadic, or oscillating once a cold step came before.
    two_runs = np.array([t, t, f, f, f, f, f, t, t, t])
    assert classify(two_runs, never, "no trend") == "sporadic_hot"
    cold_once = np.array([f, f, t] + [f] * 7)
    assert classify(two_runs, cold_once, "no trend") == "oscillating_hot"
    # A single step, hot: new. Hot in most steps but not the last: historical whatever the trend.
    assert classify(np.array([t]), np.array([f]), "no trend") == "new_hot"
    assert classify(np.array([t] * 9 + [f]), never, "increasing") == "historical_hot"
    assert classify(never, never, "increasing") == "none"
    # The final step decides first: hot in nine steps, cold in the last is a new cold spot (never cold before),
    # and with a cold step before the hot ones an oscillating one; never a historical hot spot.
    assert classify(np.array([t] * 9 + [f]), np.array([f] * 9 + [t]), "decreasing") == "new_cold"
    assert classify(np.array([f] + [t] * 8 + [f]), np.array([t] + [f] * 8 + [t]), "no trend") == "oscillating_cold"
    assert classify(np.array([t] + [f] * 8 + [t]), np.array([f] + [t] * 8 + [f]), "no trend") == "oscillating_hot"
    assert classify(never, np.array([t] * 9 + [f]), "no trend") == "historical_cold"


def test_whole_steps_count_back_from_the_end() -> None:
    start, n = whole_steps(date(2026, 7, 1), date(2026, 11, 1), 7)  # 123 days: 17 weeks and 4 days
    assert (n, start) == (17, date(2026, 7, 5)) and (date(2026, 11, 1) - start).days == 7 * 17
    assert whole_steps(date(2026, 7, 1), date(2026, 7, 5), 7)[1] == 0
    days = [date(2026, 7, 4), date(2026, 7, 5), date(2026, 7, 11), date(2026, 7, 12)]
    steps = step_index(days, start, 7)
    assert steps.tolist() == [-1, 0, 0, 1]
    counts = cube(["a", "b"], ["a", "a", "b", "zz"], steps, 2)  # before the first step / unknown cell: left out
    assert counts.tolist() == [[1.0, 0.0], [1.0, 0.0]]
