"""Sweep report: the re-selecting bootstrap, and the summary of a real toy sweep folder."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fixtures.images import assert_drawn_png
from omegaconf import DictConfig

from analysis.sweep_report import report, selection_bootstrap
from ssd.config import RunConfig
from ssd.figures import PASS_VS_TEFF_FILE
from ssd.pipeline import run_trial


def test_equal_settings_give_an_interval_around_zero() -> None:
    rng = np.random.default_rng(0)
    rates = rng.binomial(10, 0.4, size=(1, 300)) / 10
    cmp = selection_bootstrap(rates, rates.copy(), n_boot=500)
    assert cmp.diff == 0 and cmp.low <= 0 <= cmp.high


def test_a_clear_win_is_above_zero_and_the_best_settings_are_found() -> None:
    rng = np.random.default_rng(1)
    base = rng.binomial(10, [[0.3], [0.35], [0.2]], size=(3, 300)) / 10
    ssd = rng.binomial(10, [[0.3], [0.5]], size=(2, 300)) / 10
    cmp = selection_bootstrap(ssd, base, n_boot=500)
    assert cmp.ssd_index == 1 and cmp.base_index == 1
    assert 0 < cmp.low < cmp.diff < cmp.high
    assert cmp.diff == pytest.approx(ssd[1].mean() - base[1].mean())


@pytest.mark.integration
def test_report_on_a_toy_sweep_folder(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    sweep = tmp_path / "sweep"
    grid = [(0.9, 0.6), (0.9, 1.2), (0.9, 1.6), (0.9, 2.0)]
    for number, (t_train, t_eval) in enumerate(grid):
        cfg = compose_cfg(
            [
                "model=toy",
                "training=ideal",
                f"sampling.temperature={t_train}",
                f"evaluation.temperature={t_eval}",
                "evaluation.num_problems=100",
            ]
        )
        run_trial(RunConfig.from_dictconfig(cfg), sweep / str(number))
    out = report(sweep, n_boot=200)
    saved = json.loads((sweep / "report.json").read_text())
    assert saved["num_trials"] == 4 and Path(out["plot"]) == sweep / PASS_VS_TEFF_FILE
    # The callback's figure: SSD of the one T_train (C0) and the base model (gray).
    assert_drawn_png(sweep / PASS_VS_TEFF_FILE, ["C0", "gray"])
    # The ideal toy student at T_eval ~1.6-2.0 beats every base temperature in the grid.
    assert saved["comparison"]["low"] > 0
    assert saved["best_ssd"]["t_eval"] in (1.6, 2.0)
