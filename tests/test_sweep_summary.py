"""The sweep summary callback: the pass-vs-T_eff figure from the trials' results.json, and the
W&B summary run (offline)."""

import json
from pathlib import Path

import matplotlib
import pandas as pd
import pytest
from fixtures.images import assert_drawn_png, colour_pixels
from fixtures.sweep_results import synthetic_results
from omegaconf import OmegaConf

from ssd.figures import MAX_LINES, PASS_VS_TEFF_FILE, load_sweep_trials, plot_pass_vs_teff
from ssd.sweep_summary import SweepSummary, summarize

GRID = [(t_train, t_eval) for t_train in (0.8, 1.0) for t_eval in (0.6, 1.2, 1.8)]
FAILED = 3  # trials.csv marks it FAIL; its stale results.json must not be drawn


def _write_sweep(folder: Path, grid: list[tuple[float, float]] = GRID) -> None:
    rows = []
    for number, (t_train, t_eval) in enumerate(grid):
        results = synthetic_results(t_train, t_eval)
        (folder / str(number)).mkdir(parents=True, exist_ok=True)
        (folder / str(number) / "results.json").write_text(json.dumps(results))
        state = "FAIL" if number == FAILED else "COMPLETE"
        rows.append(
            {
                "number": number,
                "state": state,
                "value": None if state == "FAIL" else results["objective"],
                "params_sampling.temperature": t_train,
                "user_attrs_t_eff": results["t_eff"],
            }
        )
    pd.DataFrame(rows).to_csv(folder / "trials.csv", index=False)


def test_summary_draws_the_figure_without_tracking(tmp_path: Path) -> None:
    _write_sweep(tmp_path)
    png = summarize(tmp_path, "teff_toy", {"mode": "disabled"})
    assert png == tmp_path / PASS_VS_TEFF_FILE
    # One line per T_train (C0, C1) and the base model (gray).
    assert_drawn_png(png, ["C0", "C1", "gray"])


def test_only_complete_trials_are_loaded(tmp_path: Path) -> None:
    _write_sweep(tmp_path)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "results.json").write_text("{}")  # not a trial folder
    assert [t.number for t in load_sweep_trials(tmp_path)] == list(range(len(GRID)))
    kept = load_sweep_trials(tmp_path, numbers={0, 1, 2, 4, 5})
    assert [t.number for t in kept] == [0, 1, 2, 4, 5]
    assert kept[0].setting == ("none", 0.8)


def test_many_settings_become_a_scatter_coloured_by_t_train(tmp_path: Path) -> None:
    grid = [(0.5 + 0.1 * i, 1.0) for i in range(MAX_LINES + 2)]
    _write_sweep(tmp_path, grid)
    png = plot_pass_vs_teff(load_sweep_trials(tmp_path), tmp_path / "scatter.png")
    assert png is not None
    assert_drawn_png(png, ["gray"])  # the base model
    # No line per setting; a colour bar whose ends are the lowest and highest T_train.
    assert colour_pixels(png, "C0") == 0
    viridis = matplotlib.colormaps["viridis"]
    assert_drawn_png(png, [viridis(0.0), viridis(1.0)], min_pixels=50)


def test_summary_without_trials_or_results_is_harmless(tmp_path: Path) -> None:
    assert summarize(tmp_path, "empty", {"mode": "disabled"}) is None
    pd.DataFrame([{"number": 0, "state": "COMPLETE", "value": 1.0}]).to_csv(
        tmp_path / "trials.csv", index=False
    )
    assert summarize(tmp_path, "no_results", {"mode": "disabled"}) is None
    assert not (tmp_path / PASS_VS_TEFF_FILE).exists()


@pytest.mark.integration
def test_callback_logs_an_offline_wandb_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)
    sweep_dir = tmp_path / "sweeps" / "teff_toy"
    _write_sweep(sweep_dir)
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
    assert len(runs) == 1
    assert_drawn_png(sweep_dir / PASS_VS_TEFF_FILE, ["C0", "C1", "gray"])
