"""The cheap inner search over T_eval on one fixed (already trained) student.

Why: in a T_train x T_eval study the student is the expensive part (sampling + SFT) and a new
T_eval on the same student costs one evaluation. A nested search lets the outer study choose the
expensive settings and spends a small evaluation budget here, on one dimension, to find that
student's best T_eval. The pass@1 curve over T_eval is smooth and single-peaked in log T_eval
(the paper's T_eff = T_train x T_eval law), so a coarse bracket plus a 1-D optimiser finds its peak
in a handful of evaluations.

The search never trains or caches anything itself: it calls ``evaluate(t_eval) -> float``
(higher is better) and returns every evaluated point in order, the best one, and optionally the
vertex of a parabola in log T_eval fitted through the best point and its neighbours (a
noise-tolerant estimate of the peak, usually between grid points).

Methods (``InnerSearchSpec.method``):

- ``grid``: evaluate a fixed list of T_eval values (default: ``budget`` points log-spaced in
  ``[low, high]``). Exact cost, no adaptivity.
- ``bracket``: ``n_coarse`` log-spaced points, then scipy's bounded Brent minimiser (golden
  section + parabolic steps) on log T_eval between the best coarse point's neighbours, until the
  budget is spent or the bracket is narrower than ``resolution``.
- ``optuna``: a private in-memory Optuna study on log T_eval (the coarse points enqueued first,
  then ``GPSampler`` proposals), seeded, for noisy curves where a surrogate model helps.

Every method snaps T_eval to multiples of ``resolution`` (so repeats hit the evaluation cache
and recorded values are readable) and never calls ``evaluate`` twice for one snapped value, nor
more than ``budget`` times in total.

Example::

    >>> from ssd.inner_search import InnerSearchSpec, search_t_eval
    >>> res = search_t_eval(lambda t: -((t - 0.8) ** 2), InnerSearchSpec(budget=8))
    >>> abs(res.best.t_eval - 0.8) <= 0.02, res.n_evaluations <= 8
    (True, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Evaluate = Callable[[float], float]
Method = Literal["grid", "bracket", "optuna"]
METHODS: tuple[str, ...] = ("grid", "bracket", "optuna")


@dataclass(frozen=True)
class InnerPoint:
    """One evaluation: the (snapped) T_eval, its value, and its position in evaluation order."""

    t_eval: float
    value: float
    index: int


@dataclass(frozen=True)
class FittedPeak:
    """Vertex of a parabola in log T_eval (value = a u^2 + b u + c, u = log T_eval, a < 0)."""

    t_eval: float
    value: float
    curvature: float  # a, the coefficient of u^2 (negative for a peak)


@dataclass(frozen=True)
class InnerSearchResult:
    """All evaluated points in evaluation order, the best one, and the fitted peak (or None)."""

    points: tuple[InnerPoint, ...]
    best: InnerPoint
    peak: FittedPeak | None

    @property
    def n_evaluations(self) -> int:
        return len(self.points)

    def objective(self, use: Literal["best", "peak"] = "best") -> float:
        """The value an outer study optimises: the best evaluated value, or the fitted peak's."""
        if use == "peak" and self.peak is not None:
            return self.peak.value
        return self.best.value


@dataclass(frozen=True)
class InnerSearchSpec:
    """How to search T_eval. Validated on construction (ValueError naming the key)."""

    method: Method = "bracket"
    low: float = 0.2
    high: float = 2.0
    budget: int = 8  # at most this many calls of evaluate
    n_coarse: int = 5  # coarse log-spaced points before refinement (bracket, optuna)
    grid: tuple[float, ...] | None = None  # explicit T_eval values for method=grid
    resolution: float = 0.01  # T_eval is snapped to multiples of this
    fit_neighbours: int = 1  # points on each side of the best used for the parabola
    seed: int = 0  # for method=optuna

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"inner_search.method: expected one of {METHODS}, got {self.method!r}")
        if not (self.low > 0 and self.high > self.low):
            raise ValueError(
                f"inner_search.low/high: expected 0 < low < high, got {self.low}, {self.high}"
            )
        if not self.resolution > 0:
            raise ValueError(f"inner_search.resolution: expected > 0, got {self.resolution}")
        if self.grid is not None:
            if not self.grid or any(not (t > 0) for t in self.grid):
                raise ValueError(
                    f"inner_search.grid: expected a non-empty list of T_eval > 0, got {self.grid}"
                )
            if self.method != "grid":
                raise ValueError("inner_search.grid: only used with method=grid")
        if not isinstance(self.budget, int) or self.budget < 1:
            raise ValueError(f"inner_search.budget: expected an integer >= 1, got {self.budget}")
        if self.method != "grid":
            if not isinstance(self.n_coarse, int) or self.n_coarse < 3:
                raise ValueError(
                    f"inner_search.n_coarse: expected an integer >= 3, got {self.n_coarse}"
                )
            if self.budget < self.n_coarse:
                raise ValueError(
                    f"inner_search.budget: expected >= n_coarse ({self.n_coarse}) for "
                    f"method={self.method}, got {self.budget}"
                )
        if not isinstance(self.fit_neighbours, int) or self.fit_neighbours < 1:
            raise ValueError(
                f"inner_search.fit_neighbours: expected an integer >= 1, got {self.fit_neighbours}"
            )

    def grid_points(self) -> list[float]:
        """The T_eval values method=grid evaluates (snapped, deduplicated, in order)."""
        raw = self.grid if self.grid is not None else log_grid(self.low, self.high, self.budget)
        return _dedupe([snap(t, self.resolution) for t in raw])


class _BudgetSpent(Exception):
    """Raised inside an optimiser's objective to stop it once the budget is used."""


class _Recorder:
    """Wraps evaluate: snaps T_eval, memoises repeats, counts calls, stops at the budget."""

    def __init__(self, evaluate: Evaluate, budget: int, resolution: float) -> None:
        self._evaluate = evaluate
        self.budget = budget
        self.resolution = resolution
        self.points: list[InnerPoint] = []
        self._seen: dict[float, float] = {}

    @property
    def left(self) -> int:
        return self.budget - len(self.points)

    def __call__(self, t_eval: float) -> float:
        t = snap(t_eval, self.resolution)
        if t in self._seen:
            return self._seen[t]
        if self.left <= 0:
            raise _BudgetSpent
        value = float(self._evaluate(t))
        if not math.isfinite(value):
            raise ValueError(f"inner search: evaluate({t}) returned {value}, expected a number")
        self._seen[t] = value
        self.points.append(InnerPoint(t_eval=t, value=value, index=len(self.points)))
        return value


def snap(t_eval: float, resolution: float) -> float:
    """Round T_eval to a multiple of ``resolution`` (never to 0), as a clean decimal float."""
    steps = max(1, round(t_eval / resolution))
    digits = max(0, -math.floor(math.log10(resolution)) + 2)
    return round(steps * resolution, digits)


def log_grid(low: float, high: float, n: int) -> list[float]:
    """``n`` log-spaced values from ``low`` to ``high`` (both included; one value: the geo-mean)."""
    if n == 1:
        return [math.sqrt(low * high)]
    return [float(x) for x in np.geomspace(low, high, n)]


def _dedupe(values: Sequence[float]) -> list[float]:
    out: list[float] = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def fit_peak(points: Sequence[InnerPoint], neighbours: int = 1) -> FittedPeak | None:
    """Vertex of a parabola in log T_eval through the best point and its neighbours.

    Takes the best point and up to ``neighbours`` points on each side of it (in T_eval order),
    fits value = a u^2 + b u + c (u = log T_eval; least squares when more than 3 points). Returns
    None when the best point lies on an edge (no point on one side: the peak is not bracketed),
    when the parabola does not open downward, or with fewer than 3 distinct points. The vertex is
    clamped to the span of the fitted points, so noise cannot throw it far outside the data.
    """
    by_t = sorted({p.t_eval: p for p in points}.values(), key=lambda p: p.t_eval)
    if len(by_t) < 3:
        return None
    i = max(range(len(by_t)), key=lambda k: (by_t[k].value, -by_t[k].index))
    if i == 0 or i == len(by_t) - 1:
        return None
    lo, hi = max(0, i - neighbours), min(len(by_t), i + neighbours + 1)
    chosen = by_t[lo:hi]
    u = np.log([p.t_eval for p in chosen])
    y = np.array([p.value for p in chosen])
    a, b, c = np.polyfit(u, y, 2)
    if not a < 0:
        return None
    u_star = float(np.clip(-b / (2 * a), u.min(), u.max()))
    value = float(a * u_star**2 + b * u_star + c)
    return FittedPeak(t_eval=float(math.exp(u_star)), value=value, curvature=float(a))


def grid_search(
    evaluate: Evaluate, t_evals: Sequence[float], resolution: float = 0.01
) -> InnerSearchResult:
    """Evaluate every T_eval in ``t_evals`` (snapped, repeats once) and fit the peak."""
    spec = InnerSearchSpec(
        method="grid", grid=tuple(t_evals), budget=len(t_evals), resolution=resolution
    )
    return search_t_eval(evaluate, spec)


def search_t_eval(evaluate: Evaluate, spec: InnerSearchSpec) -> InnerSearchResult:
    """Run the inner search ``spec`` over ``evaluate`` (maximised); see the module docstring."""
    rec = _Recorder(evaluate, spec.budget, spec.resolution)
    try:
        if spec.method == "grid":
            for t in spec.grid_points():
                rec(t)
        elif spec.method == "bracket":
            _bracket(rec, spec)
        else:
            _optuna(rec, spec)
    except _BudgetSpent:
        pass
    best = max(rec.points, key=lambda p: (p.value, -p.index))
    return InnerSearchResult(
        points=tuple(rec.points), best=best, peak=fit_peak(rec.points, spec.fit_neighbours)
    )


def _coarse(rec: _Recorder, spec: InnerSearchSpec) -> list[float]:
    coarse = _dedupe(
        [snap(t, spec.resolution) for t in log_grid(spec.low, spec.high, spec.n_coarse)]
    )
    for t in coarse:
        rec(t)
    return coarse


def _bracket(rec: _Recorder, spec: InnerSearchSpec) -> None:
    from scipy.optimize import minimize_scalar

    coarse = _coarse(rec, spec)
    values = [rec(t) for t in coarse]  # memoised: no new evaluations
    i = max(range(len(coarse)), key=lambda k: values[k])
    a, b = coarse[max(0, i - 1)], coarse[min(len(coarse) - 1, i + 1)]
    if rec.left <= 0 or b - a <= spec.resolution:
        return
    # xatol in log units: stop once the bracket is about one resolution step wide at its centre.
    xatol = 0.5 * spec.resolution / math.sqrt(a * b)
    minimize_scalar(
        lambda u: -rec(math.exp(u)),
        bounds=(math.log(a), math.log(b)),
        method="bounded",
        options={"xatol": xatol, "maxiter": 4 * spec.budget},
    )


def _optuna(rec: _Recorder, spec: InnerSearchSpec) -> None:
    import optuna

    coarse = _coarse(rec, spec)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # a private study: no per-trial lines
    try:
        _optuna_refine(rec, spec, coarse)
    finally:
        optuna.logging.set_verbosity(verbosity)


def _optuna_refine(rec: _Recorder, spec: InnerSearchSpec, coarse: list[float]) -> None:
    import optuna

    dist = optuna.distributions.FloatDistribution(spec.low, spec.high, log=True)
    sampler = optuna.samplers.GPSampler(seed=spec.seed, n_startup_trials=len(coarse))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for t in coarse:
        study.add_trial(
            optuna.trial.create_trial(
                params={"t_eval": min(max(t, spec.low), spec.high)},
                distributions={"t_eval": dist},
                value=rec(t),
            )
        )
    stale = 0  # proposals that snap onto an evaluated point; stop when the model keeps repeating
    while rec.left > 0 and stale < 3:
        trial = study.ask({"t_eval": dist})
        before = len(rec.points)
        study.tell(trial, rec(trial.params["t_eval"]))
        stale = stale + 1 if len(rec.points) == before else 0
