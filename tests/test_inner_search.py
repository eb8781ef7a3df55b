"""The inner T_eval search on analytic curves: peaks found, edges, noise, budget, determinism."""

from __future__ import annotations

import math
import random

import pytest

from ssd.inner_search import (
    METHODS,
    InnerPoint,
    InnerSearchSpec,
    fit_peak,
    grid_search,
    log_grid,
    search_t_eval,
    snap,
)


def log_quadratic(peak: float, height: float = 0.6, width: float = 1.0):
    """A parabola in log T_eval with its vertex at ``peak``: the T_eff law's shape."""
    return lambda t: height - width * (math.log(t) - math.log(peak)) ** 2


class Counting:
    def __init__(self, f):
        self.f, self.calls = f, []

    def __call__(self, t):
        self.calls.append(t)
        return self.f(t)


# GPSampler refits a GP per proposal (seconds each on a loaded 2-core CI box): its long
# accuracy runs are `slow`; CI keeps the short budget, edge and determinism runs below.
ADAPTIVE = ["bracket", pytest.param("optuna", marks=pytest.mark.slow)]


@pytest.mark.parametrize("method", ADAPTIVE)
@pytest.mark.parametrize("peak", [0.35, 0.8, 1.13, 1.7])
def test_adaptive_methods_find_an_interior_peak(method, peak):
    f = Counting(log_quadratic(peak))
    res = search_t_eval(f, InnerSearchSpec(method=method, budget=10))
    assert len(f.calls) == res.n_evaluations <= 10
    assert abs(res.best.t_eval - peak) <= 0.03
    assert res.peak is not None and abs(res.peak.t_eval - peak) <= 0.02
    assert res.peak.value == pytest.approx(0.6, abs=1e-3)


def test_grid_evaluates_exactly_its_points_in_order_and_fits_the_vertex():
    f = Counting(log_quadratic(0.9))
    grid = [0.5, 0.7, 1.0, 1.3, 1.6]
    res = grid_search(f, grid)
    assert f.calls == grid
    assert [p.t_eval for p in res.points] == grid
    assert [p.index for p in res.points] == list(range(5))
    assert res.best.t_eval == 1.0
    # an exact parabola in log t: the 3-point vertex is the true peak
    assert res.peak is not None and res.peak.t_eval == pytest.approx(0.9, abs=1e-9)


def test_default_grid_is_log_spaced_over_low_high_with_budget_points():
    spec = InnerSearchSpec(method="grid", low=0.25, high=4.0, budget=5)
    assert spec.grid_points() == [0.25, 0.5, 1.0, 2.0, 4.0]


@pytest.mark.parametrize("method", ["grid", *ADAPTIVE])
@pytest.mark.parametrize("edge,expected", [(0.05, 0.2), (9.0, 2.0)])
def test_peak_outside_the_range_stops_at_the_edge_without_a_vertex(method, edge, expected):
    res = search_t_eval(log_quadratic(edge), InnerSearchSpec(method=method, budget=8))
    assert res.best.t_eval == pytest.approx(expected, abs=0.02)
    assert res.peak is None  # the best point is on an edge: the peak is not bracketed


@pytest.mark.parametrize("method", ["grid", *ADAPTIVE])
@pytest.mark.parametrize("budget", [5, 6, 9])
def test_budget_is_never_exceeded_and_repeats_are_not_re_evaluated(method, budget):
    rng = random.Random(0)
    f = Counting(lambda t: log_quadratic(1.0)(t) + rng.gauss(0, 0.05))
    res = search_t_eval(f, InnerSearchSpec(method=method, budget=budget))
    assert len(f.calls) == res.n_evaluations <= budget
    assert len(set(f.calls)) == len(f.calls)
    assert all(snap(t, 0.01) == t for t in f.calls)


@pytest.mark.parametrize("method", METHODS)
def test_same_inputs_give_the_same_points(method):
    def noisy_run():
        rng = random.Random(7)
        f = lambda t: log_quadratic(0.7)(t) + rng.gauss(0, 0.02)  # noqa: E731
        return search_t_eval(f, InnerSearchSpec(method=method, budget=6, seed=3)).points

    assert noisy_run() == noisy_run()


@pytest.mark.parametrize("method", ADAPTIVE)
def test_noisy_curve_peak_within_tolerance_over_seeds(method):
    """Binomial-like noise (sd 0.01 on a peak 0.1 above the edges): the fitted peak stays close."""
    errors = []
    for seed in range(10):
        rng = random.Random(seed)

        def f(t, rng=rng):
            return 0.5 - 0.1 * (math.log(t / 1.2) / math.log(2)) ** 2 + rng.gauss(0, 0.01)

        res = search_t_eval(f, InnerSearchSpec(method=method, budget=10, seed=seed))
        t_hat = res.peak.t_eval if res.peak else res.best.t_eval
        errors.append(abs(t_hat - 1.2))
    assert sorted(errors)[5] <= 0.15  # median
    assert max(errors) <= 0.5


def test_fit_peak_uses_the_best_point_and_its_neighbours():
    pts = [InnerPoint(t, log_quadratic(0.8)(t), i) for i, t in enumerate([0.4, 0.6, 1.0, 1.5])]
    # a far outlier at the low edge must not matter: only 0.6, 1.0 and one side's neighbour fit
    pts[0] = InnerPoint(0.4, -5.0, 0)
    peak = fit_peak(pts)
    assert peak is not None and peak.t_eval == pytest.approx(0.8, rel=1e-9)
    assert peak.curvature == pytest.approx(-1.0)
    assert fit_peak(pts[:2]) is None
    # a W shape whose least-squares parabola opens upward has no peak
    ts, vs = [0.25, 0.5, 1, 2, 4], [1, 0, 1.01, 0, 1]
    w = [InnerPoint(t, v, i) for i, (t, v) in enumerate(zip(ts, vs, strict=True))]
    assert fit_peak(w, neighbours=2) is None
    assert fit_peak(w, neighbours=1) is not None


def test_objective_best_or_peak():
    res = grid_search(log_quadratic(0.9, height=0.5), [0.5, 0.7, 1.0, 1.3])
    assert res.objective("best") == res.best.value < 0.5
    assert res.objective("peak") == pytest.approx(0.5)


def test_log_grid_and_snap():
    assert log_grid(0.5, 2.0, 3) == pytest.approx([0.5, 1.0, 2.0])
    assert log_grid(0.5, 2.0, 1) == pytest.approx([1.0])
    assert snap(0.8349, 0.01) == 0.83
    assert snap(0.001, 0.01) == 0.01
    assert snap(1.234, 0.05) == 1.25


@pytest.mark.parametrize(
    "kwargs,key",
    [
        ({"method": "nelder"}, "inner_search.method"),
        ({"low": 0.0}, "inner_search.low/high"),
        ({"low": 2.0, "high": 1.0}, "inner_search.low/high"),
        ({"budget": 0, "method": "grid"}, "inner_search.budget"),
        ({"budget": 4, "n_coarse": 5}, "inner_search.budget"),
        ({"n_coarse": 2}, "inner_search.n_coarse"),
        ({"resolution": 0}, "inner_search.resolution"),
        ({"grid": (0.5, -1.0), "method": "grid"}, "inner_search.grid"),
        ({"grid": (0.5, 1.0)}, "inner_search.grid"),
        ({"fit_neighbours": 0}, "inner_search.fit_neighbours"),
    ],
)
def test_bad_spec_names_the_key(kwargs, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.").replace("/", "/")):
        InnerSearchSpec(**kwargs)


def test_non_finite_value_is_a_clear_error():
    with pytest.raises(ValueError, match=r"evaluate\(.*\) returned nan"):
        search_t_eval(lambda t: float("nan"), InnerSearchSpec(method="grid", budget=3))
