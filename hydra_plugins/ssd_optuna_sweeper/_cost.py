"""What a study will spend (`hydra.sweeper.dry_run=true`) and what it spent (end of a sweep).

Why: a study is worth starting only if it is affordable, and SFT runs dominate its cost. Before
any compute, `study_plan` counts the samplings, trainings (and SFT steps) and evaluations the
study will run: exact for a grid (a sampling per distinct sampling/data setting, a training per
distinct sampling/data/training setting, the base evaluated once per evaluation setting), an
upper bound for other samplers (every trial trains). The stage cache can only make the real
numbers smaller. At the end, `study_cost` sums the trials' `results.json["cost"]` (inner points
of a nested search are inside their outer trial's cost and are not counted twice).
Tests: tests/test_sweep_cost.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
from omegaconf import DictConfig
from optuna.trial import FrozenTrial

from ssd.cost import COUNTERS, format_cost, total_cost

from ._grid import OrderedGridSampler
from ._nested import is_inner
from ._search_space import SearchParam

# Which swept keys change which stage's input (everything else: evaluation only).
_SAMPLING_PREFIXES = ("sampling.", "data.", "model.")
_TRAINING_PREFIXES = (*_SAMPLING_PREFIXES, "training.")


def _distinct(points: Sequence[dict[str, Any]], prefixes: tuple[str, ...]) -> int:
    return len(
        {
            tuple(sorted((k, repr(v)) for k, v in p.items() if k.startswith(prefixes)))
            for p in points
        }
    )


def study_plan(
    config: DictConfig,
    space: dict[str, SearchParam],
    sampler: optuna.samplers.BaseSampler,
    n_trials: int,
    inner: dict[str, Any] | None,
) -> dict[str, Any]:
    """Samplings, trainings, SFT steps and evaluations of the whole study, before any compute."""
    names = [p.name for p in space.values()]
    grid = getattr(sampler, "base", sampler)
    exact = isinstance(grid, OrderedGridSampler)
    if exact:
        assert isinstance(grid, OrderedGridSampler)
        points = [dict(zip(grid.names, pt, strict=True)) for pt in grid.points[:n_trials]]
        samplings = _distinct(points, _SAMPLING_PREFIXES)
        trainings = _distinct(points, _TRAINING_PREFIXES)
        eval_settings = _distinct(points, ("evaluation.",))
    else:  # every trial may draw new values of every swept key
        samplings = n_trials if any(n.startswith(_SAMPLING_PREFIXES) for n in names) else 1
        trainings = n_trials if any(n.startswith(_TRAINING_PREFIXES) for n in names) else 1
        eval_settings = n_trials
    method = str(config.training.method)
    if method == "ideal":
        samplings = trainings = 0
    ideal = method != "ideal" and bool(config.evaluation.get("include_ideal", True))
    per_point = 2 if ideal else 1  # the student (ssd), and the ideal student beside a trained one
    inner_points = 1
    if inner is not None:
        from ssd.nested import inner_spec

        spec = inner_spec(inner)
        inner_points = len(spec.grid_points()) if spec.method == "grid" else spec.budget
        exact = exact and spec.method == "grid"
        # The base is scanned at the same points by every trial: the cache answers after the first.
        eval_settings = inner_points if spec.method == "grid" else n_trials * inner_points
    evaluations = n_trials * inner_points * per_point + eval_settings
    max_steps = int(
        config.training.sgd.steps if method == "sgd" else config.training.get("max_steps", -1)
    )
    return {
        "exact": exact,
        "trials": n_trials,
        "inner_points": inner_points if inner is not None else 0,
        "samplings": samplings,
        "trainings": trainings,
        "sft_steps": trainings * max_steps if max_steps > 0 else None,
        "evaluations": evaluations,
        "evaluated_programs": evaluations * _programs(config),
    }


def _programs(config: DictConfig) -> int:
    n = int(config.evaluation.n)
    problems = int(config.evaluation.num_problems)
    return n * problems if problems > 0 else n  # -1 (all): per problem


def print_plan(plan: dict[str, Any]) -> None:
    bound = "exactly" if plan["exact"] else "at most"
    steps = "" if plan["sft_steps"] is None else f" ({plan['sft_steps']} SFT steps)"
    inner = f", {plan['inner_points']} inner T_eval points each" if plan["inner_points"] else ""
    print(  # noqa: T201  (the dry run's answer is for the terminal, not the log)
        f"Dry run: {plan['trials']} trials{inner}; the study runs {bound} "
        f"{plan['samplings']} samplings, {plan['trainings']} trainings{steps}, "
        f"{plan['evaluations']} evaluations; cache hits and pruning only lower these. "
        "Nothing was launched.",
        flush=True,
    )


def study_cost(trials: Sequence[FrozenTrial]) -> dict[str, float]:
    """The study's total spend: the sum of its (outer) trials' recorded costs."""
    blocks = [
        {k: t.user_attrs.get(f"cost.{k}", 0) for k in COUNTERS}
        for t in trials
        if not is_inner(t) and any(f"cost.{k}" in t.user_attrs for k in COUNTERS)
    ]
    return total_cost(blocks)


__all__ = ["format_cost", "print_plan", "study_cost", "study_plan"]
