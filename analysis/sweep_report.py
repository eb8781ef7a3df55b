"""Summary of a finished SSD sweep: trials table, best SSD vs best decode-only base, T_eff peak.

The base model is evaluated at every trial's evaluation settings, so a sweep over T_eval is also a
decode-only sweep of the base. "SSD beats the tuned base" is then measured as
``max over SSD settings - max over base settings`` of pass@1, with a 95% bootstrap interval over
problems that re-selects both best settings inside every resample (selection is part of the
estimate, as the paper selects its best checkpoint). The T_eff-law table gives each trained
run's best T_eval and the slope of log peak T_eval on log T_train (the law: -1). Writes
``report.json`` and
``pass_vs_teff.png`` into the sweep folder: the sweep_summary callback's figure
(``ssd.figures``), redrawn with the quadratic fit of SSD.

    python -m analysis.sweep_report outputs/sweeps/tiny_demo [--wandb-mode offline]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from analysis.teff_fit import QuadraticFit, bootstrap_peak, fit_quadratic
from ssd.figures import PASS_VS_TEFF_FILE, SweepTrial, load_sweep_trials, plot_pass_vs_teff

POLICIES = ("base", "ssd", "ideal")


def load_trials(sweep_dir: Path) -> list[SweepTrial]:
    """Every finished trial of a sweep folder (``<number>/results.json``), by number."""
    trials = load_sweep_trials(sweep_dir)
    if not trials:
        raise SystemExit(f"no finished trials (*/results.json) in {sweep_dir}")
    return trials


def per_problem_rates(eval_dir: str) -> dict[str, float]:
    """pass@1 of each problem (c / n) from an evaluation artifact's ``problems.jsonl``."""
    rows = [json.loads(x) for x in Path(eval_dir, "problems.jsonl").read_text().splitlines() if x]
    return {str(r["problem_id"]): r["c"] / r["n"] for r in rows}


def _matrix(eval_dirs: list[str]) -> tuple[np.ndarray, list[str]]:
    """[settings, problems] pass@1 matrix over the problems every setting has."""
    rates = [per_problem_rates(d) for d in eval_dirs]
    common = sorted(set.intersection(*(set(r) for r in rates)))
    return np.array([[r[p] for p in common] for r in rates]), common


@dataclass
class Comparison:
    ssd_best: float
    base_best: float
    diff: float
    low: float
    high: float
    ssd_index: int
    base_index: int
    num_problems: int
    n_boot: int


def selection_bootstrap(
    ssd: np.ndarray, base: np.ndarray, n_boot: int = 2000, seed: int = 0
) -> Comparison:
    """Best SSD setting minus best base setting, with a re-selecting bootstrap over problems.

    Args:
        ssd: [SSD settings, problems] per-problem pass@1.
        base: [base settings, problems] per-problem pass@1 over the same problems.
    """
    rng = np.random.default_rng(seed)
    num = ssd.shape[1]
    idx = rng.integers(0, num, size=(n_boot, num))
    # Mean over resampled problems for every setting at once: [n_boot, settings].
    ssd_boot = ssd[:, idx].mean(axis=2).T
    base_boot = base[:, idx].mean(axis=2).T
    diffs = ssd_boot.max(axis=1) - base_boot.max(axis=1)
    s_means, b_means = ssd.mean(axis=1), base.mean(axis=1)
    return Comparison(
        ssd_best=float(s_means.max()),
        base_best=float(b_means.max()),
        diff=float(s_means.max() - b_means.max()),
        low=float(np.percentile(diffs, 2.5)),
        high=float(np.percentile(diffs, 97.5)),
        ssd_index=int(s_means.argmax()),
        base_index=int(b_means.argmax()),
        num_problems=num,
        n_boot=n_boot,
    )


def fit_inputs(trials: list[SweepTrial], metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(T_eff, SSD ``metric``) of every evaluated point once, what the quadratic fit and the
    bootstrap of the peak use (``load_trials`` already leaves out nested outer summaries)."""
    points = [t for t in trials if not t.outer_summary]
    x = np.array([t.results["t_eff"] for t in points])
    y = np.array([t.results["ssd"][metric] for t in points])
    return x, y


def trial_rows(trials: list[SweepTrial], metric: str) -> list[dict[str, Any]]:
    """One row per trial: settings, ``metric`` of each policy (None if not evaluated), SSD - base.

    What the printed table, ``report.json["trials"]`` and the W&B table show.
    """
    return [
        {
            "trial": t.number,
            "t_train": t.results["t_train"],
            "truncation": t.truncation(),
            "t_eval": t.results["t_eval"],
            "t_eff": t.results["t_eff"],
        }
        | {p: t.results[p].get(metric) if p in t.results else None for p in POLICIES}
        | {"ssd - base": t.results["delta"].get(metric, float("nan"))}
        for t in trials
    ]


def trials_table(rows: list[dict[str, Any]], metric: str) -> Table:
    table = Table(title=f"trials ({metric}; ssd = trained student unless training=ideal)")
    for col in ("#", "T_train", "truncation", "T_eval", "T_eff", *POLICIES, "ssd - base"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            str(r["trial"]),
            f"{r['t_train']:g}",
            r["truncation"],
            f"{r['t_eval']:g}",
            f"{r['t_eff']:.3g}",
            *("-" if r[p] is None else f"{r[p]:.3f}" for p in POLICIES),
            f"{r['ssd - base']:+.3f}",
        )
    return table


def refine_peak(curve: dict[float, float]) -> float | None:
    """The peak of a T_eval curve between grid points: the vertex of the parabola (in log T_eval)
    through the best point and its two neighbours. None when the best point is at an end of the
    grid (the peak may lie outside it) or the three points are not concave.

    A noisy neighbour that overtakes the best point moves this estimate a little, where it would
    move the plain best T_eval by a whole grid step.
    """
    ts = sorted(curve)
    values = [curve[t] for t in ts]
    i = int(np.argmax(values))
    if i == 0 or i == len(ts) - 1:
        return None
    x = np.log(ts[i - 1 : i + 2])
    a, b, _ = np.polyfit(x, values[i - 1 : i + 2], 2)
    if a >= 0:
        return None
    return float(np.exp(np.clip(-b / (2 * a), x[0], x[-1])))


@dataclass
class LawRow:
    """Where one trained (or ideal) student peaks over the sweep's T_eval grid."""

    policy: str  # "ssd" (trained) or "ideal"
    truncation: str  # training-time truncation of the samples
    t_train: float
    best_t_eval: float  # the grid point with the highest value
    best_value: float
    peak_t_eval: float | None  # refine_peak: between grid points; None at the grid's edge
    num_t_evals: int

    @property
    def t_eff(self) -> float:
        return self.t_train * (self.peak_t_eval or self.best_t_eval)


@dataclass
class TEvalLaw:
    """The T_eff law's prediction for a sweep: best T_eval = T*_eff / T_train.

    ``slope`` is the least-squares slope of log(peak T_eval) on log(T_train) per policy and
    truncation group (the law says -1; the refined peak where every row has one, else the best
    grid point); ``base_t_eval`` is the decode-only base's peak T_eval, the T*_eff an ideal
    student reproduces when decoding only adds temperature.
    """

    rows: list[LawRow]
    slope: dict[str, float]
    base_t_eval: float | None


def _curves(trials: list[SweepTrial], policy: str, metric: str) -> dict[Any, dict[float, float]]:
    """{(truncation, T_train): {T_eval: value}} of one policy (base: one curve, key None)."""
    curves: dict[Any, dict[float, float]] = {}
    for t in trials:
        if metric in t.results.get(policy, {}):
            key = None if policy == "base" else t.setting
            curves.setdefault(key, {})[t.results["t_eval"]] = t.results[policy][metric]
    return curves


def t_eval_law(trials: list[SweepTrial], metric: str = "pass@1") -> TEvalLaw:
    """Best T_eval of each (policy, truncation, T_train) over the T_eval values it was run at.

    Only settings evaluated at 3+ T_eval values count (a best over two points says little), and a
    slope needs 2+ T_train values within one truncation group.
    """
    rows: list[LawRow] = []
    for policy in ("ssd", "ideal"):
        for (trunc, t_train), curve in sorted(_curves(trials, policy, metric).items()):
            if len(curve) >= 3:
                best = max(curve, key=lambda te: curve[te])
                row = LawRow(
                    policy, trunc, t_train, best, curve[best], refine_peak(curve), len(curve)
                )
                rows.append(row)
    slope: dict[str, float] = {}
    for key in sorted({(r.policy, r.truncation) for r in rows}):
        group = [r for r in rows if (r.policy, r.truncation) == key]
        if len({r.t_train for r in group}) >= 2:
            refined = all(r.peak_t_eval is not None for r in group)
            peaks = [(r.peak_t_eval if refined else r.best_t_eval) or 0.0 for r in group]
            fit = np.polyfit(np.log([r.t_train for r in group]), np.log(peaks), 1)
            slope[f"{key[0]} {key[1]}"] = float(fit[0])
    base = _curves(trials, "base", metric).get(None, {})
    base_t = None
    if len(base) >= 3:
        base_t = refine_peak(base) or max(base, key=lambda te: base[te])
    return TEvalLaw(rows, slope, base_t)


def law_table(law: TEvalLaw, metric: str) -> Table:
    table = Table(title=f"T_eff law: best T_eval per T_train ({metric}; law: T_eval ~ 1/T_train)")
    columns = ("policy", "truncation", "T_train", "best T_eval", metric, "peak T_eval", "T_eff")
    for col in columns:
        table.add_column(col, justify="right")
    for r in law.rows:
        table.add_row(
            "trained" if r.policy == "ssd" else r.policy,
            r.truncation,
            f"{r.t_train:g}",
            f"{r.best_t_eval:g}",
            f"{r.best_value:.3f}",
            "edge" if r.peak_t_eval is None else f"{r.peak_t_eval:.3g}",
            f"{r.t_eff:.3g}",
        )
    return table


def plot(
    trials: list[SweepTrial],
    metric: str,
    fit: QuadraticFit | None,
    path: Path,
    best: SweepTrial | None = None,
) -> Path | None:
    """The sweep's pass-vs-T_eff figure (``ssd.figures``) with the quadratic fit of SSD."""
    curve = None
    if fit is not None:
        xs = np.linspace(fit.x_min, fit.x_max, 100)
        curve = (xs.tolist(), fit.predict(xs).tolist())
    return plot_pass_vs_teff(
        trials, path, metric, best=best, fit=curve, fit_label=f"quadratic fit of SSD {metric}"
    )


def report(
    sweep_dir: Path, metric: str = "pass@1", n_boot: int = 2000, console: Console | None = None
) -> dict[str, Any]:
    """Print the summary of a sweep folder and write ``report.json`` and the plot beside it."""
    console = console or Console()
    trials = load_trials(sweep_dir)
    rows = trial_rows(trials, metric)
    console.print(trials_table(rows, metric))

    ssd_dirs = [t.results["ssd"]["eval_dir"] for t in trials]
    base_dirs = sorted({t.results["base"]["eval_dir"] for t in trials})
    ssd_m, _ = _matrix(ssd_dirs + base_dirs)
    cmp = selection_bootstrap(ssd_m[: len(ssd_dirs)], ssd_m[len(ssd_dirs) :], n_boot=n_boot)
    best = trials[cmp.ssd_index].results
    best_base = next(
        t.results for t in trials if t.results["base"]["eval_dir"] == base_dirs[cmp.base_index]
    )

    x, y = fit_inputs(trials, metric)
    fit = fit_quadratic(x, y) if len(set(x.tolist())) >= 3 else None
    peak = bootstrap_peak(x, y, per_problem=ssd_m[: len(ssd_dirs)], n_boot=n_boot) if fit else None
    png = plot(trials, metric, fit, Path(sweep_dir) / PASS_VS_TEFF_FILE, trials[cmp.ssd_index])

    console.print(
        f"best SSD:  {metric} {cmp.ssd_best:.3f} at T_train {best['t_train']:g}"
        f" ({trials[cmp.ssd_index].truncation()}), T_eval {best['t_eval']:g},"
        f" T_eff {best['t_eff']:.3g}"
    )
    console.print(
        f"best base (decode-only): {metric} {cmp.base_best:.3f} at T_eval {best_base['t_eval']:g}"
    )
    console.print(
        f"SSD - best base: {cmp.diff * 100:+.1f} pp, 95% bootstrap interval"
        f" [{cmp.low * 100:+.1f}, {cmp.high * 100:+.1f}] pp over {cmp.num_problems} problems"
        f" (best settings re-selected in each of {cmp.n_boot} resamples)"
    )
    if fit is not None and peak is not None:
        console.print(
            f"fitted T_eff peak (quadratic on SSD {metric}): {fit.peak_x:.3g} ({fit.status}),"
            f" 95% interval [{peak.low:.3g}, {peak.high:.3g}] over problems; R^2 {fit.r2:.2f}"
        )
    law = t_eval_law(trials, metric)
    if law.slope:
        console.print(law_table(law, metric))
        slopes = ", ".join(
            f"{k.replace('ssd', 'trained', 1)}: {v:+.2f}" for k, v in law.slope.items()
        )
        console.print(
            "peak T_eval: the vertex of a parabola in log T_eval through the best point and its"
            " neighbours; T_eff = T_train x peak T_eval"
        )
        base_note = f"; base's peak T_eval {law.base_t_eval:.3g}" if law.base_t_eval else ""
        console.print(f"slope of log peak T_eval on log T_train (law: -1): {slopes}{base_note}")
    console.print(f"plot: {png}")
    out = {
        "metric": metric,
        "comparison": cmp.__dict__,
        "best_ssd": {k: best[k] for k in ("t_train", "t_eval", "t_eff")}
        | {"truncation": trials[cmp.ssd_index].truncation()},
        "best_base_t_eval": best_base["t_eval"],
        "fit": fit.as_dict() if fit else None,
        "peak_interval": peak.__dict__ if peak else None,
        "plot": str(png),
        "num_trials": len(trials),
        "trials": rows,
        "t_eval_law": {
            "rows": [r.__dict__ | {"t_eff": r.t_eff} for r in law.rows],
            "slope": law.slope,
            "base_best_t_eval": law.base_t_eval,
        },
    }
    (Path(sweep_dir) / "report.json").write_text(json.dumps(out, indent=2, default=float))
    return out


def log_report(out: dict[str, Any], sweep_dir: Path, mode: str, project: str) -> None:
    """The report as one W&B run in the sweep's group (job type ``analysis``): the comparison
    and peak as summary metrics, the trials and T_eff-law tables, the figure."""
    import pandas as pd

    from ssd.config import TrackingConfig
    from ssd.tracking import log_image, log_metrics, log_table, open_run

    metrics = {"comparison": out["comparison"], "fit": out["fit"] or {}}
    metrics["t_eval_law"] = {"slope": out["t_eval_law"]["slope"]}
    with open_run(
        TrackingConfig(mode=mode, project=project),
        name=f"sweep_report-{sweep_dir.name}",
        group=sweep_dir.name,
        job_type="analysis",
        config={"sweep_dir": str(sweep_dir), "metric": out["metric"]},
        dir=sweep_dir,
    ) as run:
        log_metrics(run, metrics)
        log_table(run, "trials", pd.DataFrame(out["trials"]))
        law = [{k: v for k, v in r.items() if v is not None} for r in out["t_eval_law"]["rows"]]
        if law:
            log_table(run, "t_eval_law", pd.DataFrame(law))
        log_image(run, "pass_vs_teff", Path(out["plot"]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--metric", default="pass@1")
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument(
        "--wandb-mode", default="disabled", choices=["disabled", "offline", "online"]
    )
    parser.add_argument("--wandb-project", default="ssd")
    args = parser.parse_args(argv)
    out = report(args.sweep_dir, args.metric, args.n_boot)
    if args.wandb_mode != "disabled":
        log_report(out, args.sweep_dir, args.wandb_mode, args.wandb_project)


if __name__ == "__main__":
    main()
