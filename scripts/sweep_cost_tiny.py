"""The numbers of the cost-aware sweep claims on the tiny world, read from finished sweeps.

Why: two claims need real trained students and cannot be unit tests. (1) The cost-aware (nested)
T_eff study finds the same T_eff peak as a dense T_train x T_eval grid, within the grid's
bootstrap interval, with at most 4 SFT runs. (2) A pruner spends fewer SFT steps than no pruner
for the same best value. Run the sweeps, then this script:

    ssd -m experiment=tiny_teff_law tracking=none               # the dense 3 x 5 grid
    ssd -m experiment=tiny_teff_nested tracking=none            # nested: 3 SFT runs
    S=outputs/sweeps; python scripts/sweep_cost_tiny.py peaks $S/tiny_teff_nested $S/tiny_teff_law

    ssd -m experiment=tiny_prune tracking=none                                 # median pruner
    ssd -m experiment=tiny_prune tracking=none hydra/sweeper/pruner=none \
        trial.study=tiny_prune_none paths.cache_dir=outputs/cache_prune_none  # no pruner
    python scripts/sweep_cost_tiny.py pruning $S/tiny_prune $S/tiny_prune_none

Peaks: a quadratic of SSD pass@1 in T_eff over every complete point (inner points included,
outer summaries left out), its vertex and a 95 % bootstrap interval over problems
(``analysis.teff_fit``). Costs: the studies' own ``optimization_results.yaml`` totals.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import yaml

from analysis.sweep_report import _matrix
from analysis.teff_fit import bootstrap_peak, fit_quadratic
from ssd.figures import load_sweep_trials


def _points(sweep: Path) -> list[int]:
    """Trial numbers of complete points: grid trials, or a nested study's inner points."""
    rows = list(csv.DictReader((sweep / "trials.csv").open()))
    nested = any(r.get("user_attrs_inner") == "True" for r in rows)
    return [
        int(r["number"])
        for r in rows
        if r["state"] == "COMPLETE" and (not nested or r.get("user_attrs_inner") == "True")
    ]


def _summary(sweep: Path) -> dict:
    return yaml.safe_load((sweep / "optimization_results.yaml").read_text())


def peak(sweep: Path) -> dict:
    trials = load_sweep_trials(sweep, numbers=set(_points(sweep)))
    x = np.array([t.results["t_eff"] for t in trials])
    matrix, _ = _matrix([t.results["ssd"]["eval_dir"] for t in trials])
    fit = fit_quadratic(x, matrix.mean(axis=1))
    interval = bootstrap_peak(x, matrix.mean(axis=1), per_problem=matrix, n_boot=1000)
    cost = _summary(sweep).get("cost", {})
    return {
        "points": len(trials),
        "peak_t_eff": fit.peak_x,
        "low": interval.low,
        "high": interval.high,
        "trainings": cost.get("trainings"),
        "sft_steps": cost.get("sft_steps"),
        "evaluations": cost.get("evaluations"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("peaks", "pruning"))
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    args = parser.parse_args(argv)
    if args.what == "peaks":
        a, b = peak(args.first), peak(args.second)
        for name, p in ((args.first.name, a), (args.second.name, b)):
            print(  # noqa: T201
                f"{name}: {p['points']} points, T_eff peak {p['peak_t_eff']:.3f} "
                f"[{p['low']:.3f}, {p['high']:.3f}]; {p['trainings']} SFT runs "
                f"({p['sft_steps']} steps), {p['evaluations']} evaluations"
            )
        inside = b["low"] <= a["peak_t_eff"] <= b["high"]
        print(f"{args.first.name}'s peak inside {args.second.name}'s interval: {inside}")  # noqa: T201
    else:
        for sweep in (args.first, args.second):
            s = _summary(sweep)
            print(  # noqa: T201
                f"{sweep.name}: best {s.get('best_value')}, {s['cost']['sft_steps']} SFT steps, "
                f"{s['cost']['trainings']} trainings, {s.get('n_pruned', 0)} pruned"
            )


if __name__ == "__main__":
    main()
