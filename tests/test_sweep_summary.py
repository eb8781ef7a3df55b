"""The sweep summary callback: plot of pass@1 vs T_eff, and the W&B summary run (offline)."""

from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from ssd.sweep_summary import PLOT_FILE, SweepSummary, summarize


def _write_trials(folder: Path) -> None:
    rows = [
        {
            "number": i,
            "state": "COMPLETE" if i != 3 else "FAIL",
            "value": None if i == 3 else 0.5 - (t - 1.2) ** 2,
            "params_sampling.temperature": t,
            "user_attrs_t_eff": t,
            "user_attrs_ssd.pass@1": 0.5 - (t - 1.2) ** 2,
            "user_attrs_base.pass@1": 0.3,
        }
        for i, t in enumerate([0.6, 0.9, 1.2, 1.5, 1.8])
    ]
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "trials.csv", index=False)


def test_summary_writes_the_plot_without_tracking(tmp_path: Path) -> None:
    _write_trials(tmp_path)
    png = summarize(tmp_path, "teff_toy", {"mode": "disabled"})
    assert png == tmp_path / PLOT_FILE and png.stat().st_size > 1000


def test_summary_without_trials_or_t_eff_is_harmless(tmp_path: Path) -> None:
    assert summarize(tmp_path, "empty", {"mode": "disabled"}) is None
    pd.DataFrame([{"number": 0, "state": "COMPLETE", "value": 1.0}]).to_csv(
        tmp_path / "trials.csv", index=False
    )
    assert summarize(tmp_path, "no_teff", {"mode": "disabled"}) is None


@pytest.mark.integration
def test_callback_logs_an_offline_wandb_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)
    sweep_dir = tmp_path / "sweeps" / "teff_toy"
    _write_trials(sweep_dir)
    config = OmegaConf.create(
        {
            "hydra": {
                "sweep": {"dir": str(sweep_dir)},
                "sweeper": {"study_name": "teff_toy", "direction": "maximize"},
                "job": {"name": "ssd"},
            },
            "tracking": {"mode": "offline", "project": "ssd", "dir": str(tmp_path / "wandb")},
        }
    )
    SweepSummary().on_multirun_end(config)
    runs = list((tmp_path / "wandb").glob("wandb/offline-run-*"))
    assert len(runs) == 1 and (sweep_dir / PLOT_FILE).is_file()
