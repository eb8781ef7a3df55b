"""A Hydra callback that summarises a finished sweep: a pass@1-vs-T_eff figure and a W&B run.

Configured by every `sweeps/*.yaml` under `hydra.callbacks.sweep_summary`. At the end of a
multirun it reads `<sweep dir>/trials.csv` (written by the ssd_optuna sweeper) and the
`results.json` of its complete trials, draws `pass_vs_teff.png` next to them (`ssd.figures`, the
same figure `analysis.sweep_report` redraws with a fit) and logs one W&B run (group = study name,
job_type "sweep_summary") with the trials table, native W&B charts of pass@1 vs T_eff (line
series per T_train and truncation with base and ideal beside, and a scatter) and the figure.
Test: `pytest tests/test_sweep_summary.py`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from ssd import tracking
from ssd.figures import PASS_VS_TEFF_FILE, SweepTrial, load_sweep_trials, plot_pass_vs_teff

log = logging.getLogger(__name__)

TRIALS_FILE = "trials.csv"


def _best(complete: pd.DataFrame, trials: list[SweepTrial], maximize: bool) -> SweepTrial | None:
    """The trial with the best objective value in trials.csv, if it has results to draw."""
    # Among the drawn points: a nested outer trial repeats its best inner point's value.
    complete = complete[complete["number"].astype(int).isin([t.number for t in trials])]
    if "value" not in complete or not complete["value"].notna().any():
        return None
    row = complete.loc[complete["value"].idxmax() if maximize else complete["value"].idxmin()]
    return next((t for t in trials if t.number == int(row["number"])), None)


def _metric(trials: list[SweepTrial]) -> str:
    """pass@1 when every trial has it, else the first metric the SSD results share."""
    shared = [set(t.results.get("ssd", {})) for t in trials]
    common = set.intersection(*shared) if shared else set()
    if "pass@1" in common or not common:
        return "pass@1"
    return sorted(k for k in common if isinstance(trials[0].results["ssd"][k], int | float))[0]


def _chart_row(trial: SweepTrial) -> dict[str, Any]:
    r = trial.results
    row = {k: r.get(k) for k in ("t_train", "t_eval", "t_eff", "base", "ssd", "ideal")}
    return {**row, "trial": trial.number, "truncation": trial.truncation()}


def summarize(
    sweep_dir: Path, study: str, tracking_cfg: dict[str, Any], maximize: bool = True
) -> Path | None:
    """Plot and log the sweep in `sweep_dir`; returns the plot path (None without trial results).

    Args:
        sweep_dir: the sweep folder holding trials.csv and a folder per trial.
        study: the study name (W&B group and run name prefix).
        tracking_cfg: the run's `tracking` config (mapping); mode "disabled" logs nothing.
        maximize: whether the study maximises its objective (marks the best trial).
    """
    csv = sweep_dir / TRIALS_FILE
    if not csv.is_file():
        log.warning("No %s in %s: nothing to summarise", TRIALS_FILE, sweep_dir)
        return None
    trials = pd.read_csv(csv)
    complete = trials[trials["state"] == "COMPLETE"] if "state" in trials else trials
    results = load_sweep_trials(sweep_dir, numbers=set(complete["number"].astype(int)))
    png = plot_pass_vs_teff(
        results,
        sweep_dir / PASS_VS_TEFF_FILE,
        title=f"{study}: pass@1 vs T_eff",
        best=_best(complete, results, maximize),
    )
    summary: dict[str, Any] = {"n_complete": len(complete), "n_trials_total": len(trials)}
    summary.update(_study_cost(trials))
    if "value" in complete and complete["value"].notna().any():
        summary["best_value"] = complete["value"].max() if maximize else complete["value"].min()
    with tracking.open_run(
        tracking_cfg,
        name=f"{study}-summary",
        group=study,
        job_type="sweep_summary",
        config={"study": study, "sweep_dir": str(sweep_dir), **summary},
        dir=Path(tracking_cfg.get("dir") or sweep_dir),
    ) as run:
        tracking.log_table(run, "trials", trials)
        tracking.log_sweep_charts(run, [_chart_row(t) for t in results], _metric(results))
        if png is not None:
            tracking.log_image(run, "pass_vs_teff", png)
        tracking.log_metrics(run, summary)
    log.info("Sweep summary of %s: %s", study, png or csv)
    return png


def _study_cost(trials: pd.DataFrame) -> dict[str, Any]:
    """The study's spend (ssd.cost counters summed over outer trials) and its pruned count."""
    outer = trials
    if "user_attrs_inner" in trials:
        outer = trials[trials["user_attrs_inner"].astype(str) != "True"]
    out: dict[str, Any] = {
        f"cost.{c[len('user_attrs_cost.') :]}": float(pd.to_numeric(outer[c]).fillna(0).sum())
        for c in trials.columns
        if c.startswith("user_attrs_cost.")
    }
    if "state" in trials:
        out["n_pruned"] = int((trials["state"] == "PRUNED").sum())
    return out


class SweepSummary(Callback):
    """`on_multirun_end`: draw pass@1 vs T_eff and log the sweep's W&B summary run."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        sweeper = config.hydra.sweeper
        study = str(sweeper.get("study_name") or config.hydra.job.name)
        direction = sweeper.get("direction", "maximize")
        maximize = str(direction if isinstance(direction, str) else direction[0]) == "maximize"
        tracking_cfg: dict[str, Any] = {"mode": "disabled"}
        if "tracking" in config:
            tracking_cfg = OmegaConf.to_container(config.tracking, resolve=True)  # type: ignore[assignment]
        try:
            summarize(sweep_dir, study, tracking_cfg, maximize)
        except Exception as e:  # a reporting failure must not turn a finished sweep into an error
            log.error("Sweep summary of %s failed: %s", study, e)
