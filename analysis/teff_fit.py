"""Quadratic fit of pass@k on T_eff = T_train x T_eval, its R^2, the peak and a bootstrap interval.

The paper fits pass@1 = a T_eff^2 + b T_eff + c per truncation group and reads the peak at the
vertex. A convex (a >= 0) fit or a vertex outside the data range is reported as such, never
silently. Test: ``pytest tests/test_teff_fit.py``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class QuadraticFit:
    """Least-squares ``y = a x^2 + b x + c`` and where its vertex lies."""

    a: float
    b: float
    c: float
    r2: float
    n: int
    x_min: float
    x_max: float
    peak_x: float  # the vertex -b / 2a (nan when a == 0)
    peak_y: float
    concave: bool  # a < 0: the vertex is a maximum
    peak_in_range: bool  # x_min <= peak_x <= x_max

    @property
    def status(self) -> str:
        """``ok``, ``convex`` (no maximum) or ``peak outside data`` (a maximum beyond the grid)."""
        if not self.concave:
            return "convex"
        if not self.peak_in_range:
            return "peak outside data"
        return "ok"

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.a * np.asarray(x) ** 2 + self.b * np.asarray(x) + self.c

    def as_dict(self) -> dict[str, float | int | bool | str]:
        return {**asdict(self), "status": self.status}


@dataclass(frozen=True)
class PeakInterval:
    """Percentile bootstrap interval of the vertex over concave resampled fits."""

    low: float
    high: float
    level: float
    n_boot: int
    n_concave: int  # resamples whose fit had a maximum; the interval uses only these
    resampled: str  # "problems" or "runs"


def _coefficients(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    design = np.stack([x**2, x, np.ones_like(x)], axis=1)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return coef


def fit_quadratic(x: np.ndarray | list[float], y: np.ndarray | list[float]) -> QuadraticFit:
    """Fit ``y`` on ``x`` with a quadratic by ordinary least squares.

    Args:
        x: T_eff of each run.
        y: the metric of each run (pass@1 or pass@5, any unit).

    Returns:
        The coefficients, R^2 = 1 - SS_res / SS_tot and the vertex.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-d of one length, got {x.shape} and {y.shape}")
    if len(np.unique(x)) < 3:
        raise ValueError(f"a quadratic needs at least 3 distinct T_eff values, got {len(set(x))}")
    a, b, c = _coefficients(x, y)
    residual = y - (a * x**2 + b * x + c)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(residual**2)) / ss_tot if ss_tot > 0 else float("nan")
    peak_x = -b / (2 * a) if a != 0 else float("nan")
    peak_y = a * peak_x**2 + b * peak_x + c if a != 0 else float("nan")
    return QuadraticFit(
        a=float(a),
        b=float(b),
        c=float(c),
        r2=r2,
        n=len(x),
        x_min=float(x.min()),
        x_max=float(x.max()),
        peak_x=float(peak_x),
        peak_y=float(peak_y),
        concave=bool(a < 0),
        peak_in_range=bool(x.min() <= peak_x <= x.max()),
    )


def _vertex(x: np.ndarray, y: np.ndarray) -> float:
    """The maximum's location, or nan when the fit is convex or degenerate."""
    if len(np.unique(x)) < 3:
        return float("nan")
    a, b, _ = _coefficients(x, y)
    return float(-b / (2 * a)) if a < 0 else float("nan")


def bootstrap_peak(
    x: np.ndarray | list[float],
    y: np.ndarray | list[float],
    *,
    per_problem: np.ndarray | None = None,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> PeakInterval:
    """Bootstrap interval for the T_eff of the fitted maximum.

    With ``per_problem`` (runs x problems, each run's per-problem pass@k on the same problems)
    the problems are resampled and every run's mean is recomputed, which is the benchmark's own
    sampling noise. Without it the runs (x, y pairs) are resampled.

    Args:
        x: T_eff of each run.
        y: the metric of each run (ignored when ``per_problem`` is given).
        per_problem: optional [runs, problems] matrix; NaN marks a problem a run lacks.
        n_boot: resamples.
        level: two-sided coverage of the percentile interval.
        seed: numpy generator seed.

    Returns:
        The percentile interval over the resamples whose fit is concave (nan when none is).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    rng = np.random.default_rng(seed)
    peaks = np.empty(n_boot)
    if per_problem is not None:
        matrix = np.asarray(per_problem, dtype=np.float64)
        if matrix.shape[0] != len(x):
            raise ValueError(f"per_problem has {matrix.shape[0]} rows for {len(x)} runs")
        n_problems = matrix.shape[1]
        for i in range(n_boot):
            cols = rng.integers(0, n_problems, n_problems)
            peaks[i] = _vertex(x, np.nanmean(matrix[:, cols], axis=1))
        resampled = "problems"
    else:
        for i in range(n_boot):
            rows = rng.integers(0, len(x), len(x))
            peaks[i] = _vertex(x[rows], y[rows])
        resampled = "runs"
    valid = peaks[np.isfinite(peaks)]
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(valid, [tail, 100 - tail]) if len(valid) else (float("nan"),) * 2
    return PeakInterval(
        low=float(low),
        high=float(high),
        level=level,
        n_boot=n_boot,
        n_concave=len(valid),
        resampled=resampled,
    )
