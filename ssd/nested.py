"""Nested search, job side: one expensive student, then a cheap inner T_eval search on it.

Why: in a T_train x T_eval study the student (sampling + SFT) is the expensive part, and the
stage cache makes "same student, another T_eval" cost one evaluation. So a sweep with
``hydra.sweeper.inner`` set lets the Optuna trial choose only the expensive settings; this
module runs, inside that trial's job, the inner search of ``ssd.inner_search`` over
``evaluation.temperature``: every point is a full ``run_trial`` (samples and student are cache
hits after the first) writing ``<job>/inner/t_eval=<T>/results.json``. The decode-only base gets
the same search once per evaluation setting (``<job>/base_scan/...``; later trials hit the
cache). The job's own ``results.json`` is the best point's results plus a ``nested`` block (every
point, best, fitted peak, the base scan) and the job's total ``cost``; it returns the best
value (or the fitted peak's, ``inner.objective: peak``). The sweeper then records every inner
point as a trial of its own (``hydra_plugins/ssd_optuna_sweeper/_nested.py``).
Test: ``pytest tests/test_nested_search.py``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ssd import cost
from ssd.artifacts import write_json_atomic
from ssd.config import RunConfig, is_integer, is_number
from ssd.inner_search import InnerSearchResult, InnerSearchSpec, search_t_eval
from ssd.records import RESULTS_FILE

log = logging.getLogger(__name__)

INNER_DIR = "inner"  # <job>/inner/t_eval=<T>/results.json: one folder per inner point
BASE_SCAN_DIR = "base_scan"
# Keys of hydra.sweeper.inner that are not InnerSearchSpec fields.
OWN_KEYS = ("objective", "base_scan", "param")
OBJECTIVES = ("best", "peak")


# Types of the InnerSearchSpec fields as a command line gives them (its own checks do ranges).
_EXPECTED: dict[str, tuple[Callable[[Any], bool], str]] = {
    "method": (lambda v: isinstance(v, str), "grid, bracket or optuna"),
    "low": (is_number, "a temperature > 0"),
    "high": (is_number, "a temperature > low"),
    "budget": (is_integer, "an integer >= 1 (evaluations per student)"),
    "n_coarse": (is_integer, "an integer >= 3"),
    "grid": (
        lambda v: isinstance(v, list | tuple) and all(is_number(t) for t in v),
        "a list of T_eval values, e.g. [0.6,1.0]",
    ),
    "resolution": (is_number, "a step > 0"),
    "fit_neighbours": (is_integer, "an integer >= 1"),
    "seed": (is_integer, "an integer"),
}


def inner_spec(inner: Mapping[str, Any]) -> InnerSearchSpec:
    """The ``InnerSearchSpec`` of a ``hydra.sweeper.inner`` node; ValueError naming a bad key."""
    fields = {f.name for f in dataclasses.fields(InnerSearchSpec)}
    unknown = sorted(set(inner) - fields - set(OWN_KEYS))
    if unknown:
        known = sorted(fields | set(OWN_KEYS))
        raise ValueError(f"hydra.sweeper.inner: unknown keys {unknown}; expected some of {known}")
    use = inner.get("objective", "best")
    if not isinstance(use, str) or use not in OBJECTIVES:
        raise ValueError(f"hydra.sweeper.inner.objective: expected best or peak, got {use!r}")
    param = inner.get("param", "evaluation.temperature")
    if param != "evaluation.temperature":
        raise ValueError(
            f"hydra.sweeper.inner.param: only evaluation.temperature is searched, got {param!r}"
        )
    base_scan = inner.get("base_scan", True)
    if not isinstance(base_scan, bool):
        raise ValueError(f"hydra.sweeper.inner.base_scan={base_scan!r}: expected true or false")
    kwargs = {k: v for k, v in inner.items() if k in fields and v is not None}
    for key, value in kwargs.items():
        expected = _EXPECTED.get(key)
        if expected is not None and not expected[0](value):
            raise ValueError(f"hydra.sweeper.inner.{key}={value!r}: expected {expected[1]}")
    if "grid" in kwargs:
        kwargs["grid"] = tuple(float(t) for t in kwargs["grid"])
    try:
        return InnerSearchSpec(**kwargs)
    except ValueError as e:  # its messages name the field as inner_search.<key>
        raise ValueError(str(e).replace("inner_search.", "hydra.sweeper.inner.", 1)) from None


def point_dir(out_dir: Path, t_eval: float, kind: str = INNER_DIR) -> Path:
    return out_dir / kind / f"t_eval={t_eval:g}"


def _scan(
    run: RunConfig,
    out_dir: Path,
    spec: InnerSearchSpec,
    kind: str,
    trial: Callable[[RunConfig, Path], dict[str, Any]],
) -> tuple[InnerSearchResult, dict[float, dict[str, Any]]]:
    """Run the inner search; every point is a full trial at that T_eval (cache hits elsewhere)."""
    by_t: dict[float, dict[str, Any]] = {}

    def evaluate(t_eval: float) -> float:
        point = replace(run, evaluation=replace(run.evaluation, temperature=float(t_eval)))
        by_t[t_eval] = trial(point, point_dir(out_dir, t_eval, kind))
        log.info("%s T_eval=%g: %s=%.4f", kind, t_eval, run.objective, by_t[t_eval]["objective"])
        return float(by_t[t_eval]["objective"])

    return search_t_eval(evaluate, spec), by_t


def _summary(result: InnerSearchResult, by_t: Mapping[float, dict[str, Any]]) -> dict[str, Any]:
    peak = result.peak
    return {
        "points": [
            {
                "t_eval": p.t_eval,
                "value": p.value,
                "index": p.index,
                "t_eff": by_t[p.t_eval]["t_eff"],
            }
            for p in result.points
        ],
        "best": {"t_eval": result.best.t_eval, "value": result.best.value},
        "peak": None if peak is None else {"t_eval": peak.t_eval, "value": peak.value},
        "n_evaluations": result.n_evaluations,
    }


def run_nested(
    run: RunConfig,
    out_dir: Path,
    inner: Mapping[str, Any],
    trial: Callable[[RunConfig, Path], dict[str, Any]],
) -> dict[str, Any]:
    """One outer trial: the inner search on this run's student (and the base's scan).

    Args:
        run: the trial's config (its evaluation.temperature is replaced by the inner points).
        out_dir: the job's folder; the results.json written here is the best point's, plus
            ``nested`` and the job's total ``cost``.
        inner: the ``hydra.sweeper.inner`` node (``ssd.inner_search.InnerSearchSpec`` keys plus
            ``objective``: best | peak, and ``base_scan``: also scan the decode-only base).
        trial: ``run_trial`` (or a wrapper): runs one point and returns its results.
    """
    spec = inner_spec(inner)
    use = inner.get("objective", "best")
    result, by_t = _scan(run, out_dir, spec, INNER_DIR, trial)
    results = dict(by_t[result.best.t_eval])
    nested = _summary(result, by_t)
    nested["objective"] = use
    costs = [r["cost"] for r in by_t.values()]
    head, _, metric = run.objective.partition(".")
    if inner.get("base_scan", True) and head in ("ssd", "ideal"):
        # The decode-only baseline: the base model's own best T_eval under the same search.
        base_run = replace(
            run,
            objective=f"base.{metric}",
            sampling=replace(run.sampling, temperature=1.0, top_k=0, top_p=1.0),
            training=replace(run.training, method="ideal"),
            evaluation=replace(run.evaluation, include_ideal=False),
        )
        base_result, base_by_t = _scan(base_run, out_dir, spec, BASE_SCAN_DIR, trial)
        nested["base_scan"] = _summary(base_result, base_by_t)
        costs += [r["cost"] for r in base_by_t.values()]
    total = cost.total_cost(costs)
    results.update(
        # The best point again (it is an inner trial of its own): figures and fits skip it.
        outer_summary=True,
        nested=nested,
        cost={**total, "stages": {}},
        objective=float(result.objective(use)),
    )
    write_json_atomic(out_dir / RESULTS_FILE, results)
    log.info(
        "inner search: %d points, best T_eval %g (%.4f)%s; cost %s",
        result.n_evaluations,
        result.best.t_eval,
        result.best.value,
        "" if result.peak is None else f", fitted peak T_eval {result.peak.t_eval:.3g}",
        cost.format_cost(total),
    )
    return results
