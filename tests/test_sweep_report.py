"""Sweep report: the re-selecting bootstrap, and the summary of a real toy sweep folder."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fixtures.images import assert_drawn_png
from omegaconf import DictConfig

from analysis.sweep_report import (
    main,
    refine_peak,
    report,
    selection_bootstrap,
    t_eval_law,
)
from ssd.config import RunConfig
from ssd.figures import PASS_VS_TEFF_FILE, SweepTrial
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


def _law_trials(score: Callable[[float, float], float]) -> list[SweepTrial]:
    """A 3 x 5 sweep whose SSD pass@1 is score(T_train, T_eval); base = score(1, T_eval)."""
    grid = [(tt, te) for tt in (0.7, 1.0, 1.4) for te in (0.5, 0.7, 1.0, 1.4, 2.0)]
    return [
        SweepTrial(
            i,
            {
                "t_train": tt,
                "t_eval": te,
                "ssd": {"pass@1": score(tt, te)},
                "base": {"pass@1": score(1.0, te)},
                "config": {"sampling": {"top_k": 3, "top_p": 1.0}},
            },
        )
        for i, (tt, te) in enumerate(grid)
    ]


def test_refined_peak_is_the_vertex_between_grid_points_and_none_at_an_edge() -> None:
    curve = {t: 1 - (np.log(t) - np.log(1.2)) ** 2 for t in (0.5, 0.7, 1.0, 1.4, 2.0)}
    assert refine_peak(curve) == pytest.approx(1.2)
    assert refine_peak({t: -t for t in (0.5, 0.7, 1.0)}) is None  # best at the grid's start


def test_law_slope_is_minus_one_when_pass_depends_on_t_eff_only() -> None:
    law = t_eval_law(_law_trials(lambda tt, te: 0.5 - (np.log(tt * te) - np.log(0.9)) ** 2))
    peaks = {r.t_train: r.peak_t_eval for r in law.rows}
    assert peaks == pytest.approx({0.7: 0.9 / 0.7, 1.0: 0.9, 1.4: 0.9 / 1.4})
    assert law.slope["ssd k3"] == pytest.approx(-1.0)
    assert law.base_t_eval == pytest.approx(0.9)


def test_law_slope_is_zero_when_every_student_peaks_at_one_t_eval() -> None:
    # The demo's top-p case: leftover tails fix the usable T_eval whatever T_train was.
    law = t_eval_law(_law_trials(lambda tt, te: 0.5 - (np.log(te) - np.log(1.6)) ** 2 + tt / 10))
    assert [r.peak_t_eval for r in law.rows] == pytest.approx([1.6] * 3)
    assert law.slope["ssd k3"] == pytest.approx(0.0, abs=1e-9)


def _toy_sweep_folder(compose_cfg: Callable[..., DictConfig], sweep: Path) -> Path:
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
    return sweep


@pytest.mark.integration
def test_report_on_a_toy_sweep_folder(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    sweep = _toy_sweep_folder(compose_cfg, tmp_path / "sweep")
    out = report(sweep, n_boot=200)
    saved = json.loads((sweep / "report.json").read_text())
    assert saved["num_trials"] == 4 and Path(out["plot"]) == sweep / PASS_VS_TEFF_FILE
    # The callback's figure: SSD of the one T_train (C0) and the base model (gray).
    assert_drawn_png(sweep / PASS_VS_TEFF_FILE, ["C0", "gray"])
    # The ideal toy student at T_eval ~1.6-2.0 beats every base temperature in the grid.
    assert saved["comparison"]["low"] > 0
    assert saved["best_ssd"]["t_eval"] in (1.6, 2.0)


@pytest.mark.integration
def test_report_logs_an_offline_wandb_run(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep = _toy_sweep_folder(compose_cfg, tmp_path / "sweep")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    main([str(sweep), "--n-boot", "100", "--wandb-mode", "offline"])
    runs = list((sweep / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    data = b"".join(p.read_bytes() for p in runs[0].glob("*.wandb"))
    # The comparison as summary metrics, both tables, the figure.
    for key in (b"comparison.diff", b"comparison.low", b"trials", b"t_eval_law", b"pass_vs_teff"):
        assert key in data, key
