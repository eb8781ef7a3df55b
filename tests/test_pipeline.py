"""run_trial on the toy backend: results.json, baselines, cache hits and misses."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from ssd.config import RunConfig
from ssd.pipeline import RESULTS_FILE, run_trial

FAST_TOY = ["model=toy", "sampling.n=20000", "evaluation.num_problems=50"]


def trial(compose_cfg: Callable[..., DictConfig], out: Path, overrides: list[str]) -> dict:
    return run_trial(RunConfig.from_dictconfig(compose_cfg([*FAST_TOY, *overrides])), out)


def test_results_carry_base_ssd_ideal_and_objective(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    res = trial(compose_cfg, tmp_path / "run", [])
    saved = json.loads((tmp_path / "run" / RESULTS_FILE).read_text())
    assert saved["objective"] == res["objective"] == res["ssd"]["success_probability"]
    for policy in ("base", "ssd", "ideal"):
        assert 0 < saved[policy]["success_probability"] < 1
        assert Path(saved[policy]["eval_dir"], "problems.jsonl").is_file()
    assert saved["t_eff"] == pytest.approx(0.9 * 0.9)
    assert saved["delta"]["success_probability"] == pytest.approx(
        saved["ssd"]["success_probability"] - saved["base"]["success_probability"]
    )
    assert saved["training"]["tv_to_ideal_max"] < 0.03
    assert set(saved["timings"]) == {"eval_base", "samples", "train", "eval_ssd", "eval_ideal"}
    assert saved["environment"]["packages"]["torch"].startswith("2.")


def test_changing_only_evaluation_reuses_samples_and_training(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    first = trial(compose_cfg, tmp_path / "a", [])
    assert not any(v["hit"] for v in first["cache"].values())
    second = trial(compose_cfg, tmp_path / "b", ["evaluation.temperature=1.4"])
    assert second["cache"]["samples"]["hit"] and second["cache"]["train"]["hit"]
    assert not second["cache"]["eval_ssd"]["hit"] and not second["cache"]["eval_base"]["hit"]
    third = trial(compose_cfg, tmp_path / "c", ["sampling.top_p=0.9"])
    assert not third["cache"]["samples"]["hit"] and not third["cache"]["train"]["hit"]
    assert third["cache"]["eval_base"]["hit"]  # the base model did not change
    again = trial(compose_cfg, tmp_path / "d", [])
    assert all(v["hit"] for v in again["cache"].values())
    assert again["objective"] == first["objective"]


def test_ideal_training_needs_no_samples(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    res = trial(compose_cfg, tmp_path / "run", ["training=ideal", "evaluation.temperature=2.0"])
    assert set(res["cache"]) == {"eval_base", "eval_ssd"}
    assert res["ssd"]["success_probability"] > res["base"]["success_probability"]


def run_cli(out: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    """The ``ssd`` app in a fresh interpreter, as a user runs it."""
    args = [
        sys.executable,
        "-m",
        "ssd.cli",
        "model=toy",
        "tracking=none",
        f"paths.output_dir={out}",
    ]
    return subprocess.run([*args, *overrides], capture_output=True, text=True, timeout=120)


@pytest.mark.integration
def test_cli_toy_run_writes_results(tmp_path: Path) -> None:
    proc = run_cli(tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = list(tmp_path.glob("runs/*/*/results.json"))
    assert len(results) == 1
    data = json.loads(results[0].read_text())
    assert data["base"]["success_probability"] < data["ssd"]["success_probability"]
    assert "ssd - base" in proc.stdout


@pytest.mark.integration
def test_cli_invalid_setting_exits_nonzero_before_compute(tmp_path: Path) -> None:
    proc = run_cli(tmp_path, "sampling.top_p=1.5")
    assert proc.returncode == 2
    assert "sampling.top_p=1.5" in proc.stderr and "(0, 1]" in proc.stderr
    assert not (tmp_path / "cache").exists()  # nothing computed
    assert not list(tmp_path.glob("runs/*/*"))  # and no half-written run folder


@pytest.mark.slow  # all five stages isolated; CI: tests/test_isolated_stages.py (two stages)
def test_isolated_stages_give_the_same_results(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    inline = trial(compose_cfg, tmp_path / "a", [f"paths.cache_dir={tmp_path}/c1"])
    isolated = trial(
        compose_cfg, tmp_path / "b", [f"paths.cache_dir={tmp_path}/c2", "isolate_stages=true"]
    )
    assert isolated["objective"] == inline["objective"]
    assert isolated["ssd"]["pass@1"] == inline["ssd"]["pass@1"]


def test_identity_ideal_student_reuses_the_base_evaluation(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    # T_train 1 without truncation: the SSD target is the base model, so a decode-only sweep
    # pays for one evaluation per T_eval, not two.
    res = trial(
        compose_cfg,
        tmp_path / "run",
        ["training=ideal", "sampling.temperature=1.0", "sampling.top_p=1.0"],
    )
    assert res["cache"]["eval_ssd"]["hit"] and not res["cache"]["eval_base"]["hit"]
    assert res["ssd"]["pass@1"] == res["base"]["pass@1"]
