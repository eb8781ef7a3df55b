"""A Hydra callback that summarises a finished sweep: a pass@1-vs-T_eff plot and a W&B run.

Configured by every `sweeps/*.yaml` under `hydra.callbacks.sweep_summary`. At the end of a
multirun it reads `<sweep dir>/trials.csv` (written by the ssd_optuna sweeper), saves
`pass1_vs_teff.png` next to it and logs one W&B run (group = study name, job_type
"sweep_summary") with the trials table and the plot. Test: `pytest tests/test_sweep_summary.py`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from ssd import tracking

log = logging.getLogger(__name__)

PLOT_FILE = "pass1_vs_teff.png"
TRIALS_FILE = "trials.csv"
# Drawn against T_eff besides the objective when the trials have them (from results.json). The
# base model's pass@1 depends on T_eval alone, so it is not drawn against T_eff.
CURVES = ("ssd.pass@1", "ideal.pass@1")


def plot_pass_vs_teff(
    trials: pd.DataFrame, path: Path, title: str, maximize: bool = True
) -> Path | None:
    """Scatter the objective and SSD/ideal pass@1 against T_eff; None without T_eff data."""
    done = trials[trials["state"] == "COMPLETE"] if "state" in trials else trials
    if "user_attrs_t_eff" not in done or done.empty:
        return None
    curves = {"objective": "value"} if "value" in done else {}
    for name in CURVES:
        column = f"user_attrs_{name}"
        if column in done and not done[column].equals(done.get("value")):
            curves[name] = column
    import matplotlib

    matplotlib.use("Agg")  # no display on clusters
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, column in curves.items():
        ax.scatter(done["user_attrs_t_eff"], done[column], label=label, s=18, alpha=0.8)
    if "value" in done and done["value"].notna().any():
        best = done.loc[done["value"].idxmax() if maximize else done["value"].idxmin()]
        ax.axvline(best["user_attrs_t_eff"], color="grey", linestyle=":", label="best trial")
    ax.set_xlabel("T_eff = T_train x T_eval")
    ax.set_ylabel("objective / pass@1")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def summarize(
    sweep_dir: Path, study: str, tracking_cfg: dict[str, Any], maximize: bool = True
) -> Path | None:
    """Plot and log the sweep in `sweep_dir`; returns the plot path (None without T_eff data).

    Args:
        sweep_dir: the sweep folder holding trials.csv.
        study: the study name (W&B group and run name prefix).
        tracking_cfg: the run's `tracking` config (mapping); mode "disabled" logs nothing.
        maximize: whether the study maximises its objective (marks the best trial).
    """
    csv = sweep_dir / TRIALS_FILE
    if not csv.is_file():
        log.warning("No %s in %s: nothing to summarise", TRIALS_FILE, sweep_dir)
        return None
    trials = pd.read_csv(csv)
    png = plot_pass_vs_teff(trials, sweep_dir / PLOT_FILE, study, maximize)
    complete = trials[trials["state"] == "COMPLETE"] if "state" in trials else trials
    summary: dict[str, Any] = {"n_complete": len(complete), "n_trials_total": len(trials)}
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
        if png is not None:
            tracking.log_image(run, "pass1_vs_teff", png)
        tracking.log_metrics(run, summary)
    log.info("Sweep summary of %s: %s", study, png or csv)
    return png


class SweepSummary(Callback):
    """`on_multirun_end`: plot pass@1 vs T_eff and log the sweep's W&B summary run."""

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
