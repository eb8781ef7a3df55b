"""W&B tracking: a real offline run with config and metrics; disabled mode writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from ssd.config import RunConfig
from ssd.pipeline import run_tracked
from ssd.tracking import flatten


def test_flatten_keeps_numbers_only() -> None:
    flat = flatten({"ssd": {"pass@1": 0.5, "by_difficulty": {"easy": {"pass@1": 1}}}, "name": "x"})
    assert flat == {"ssd.pass@1": 0.5, "ssd.by_difficulty.easy.pass@1": 1.0}


@pytest.mark.integration
def test_offline_run_is_written(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)
    cfg = compose_cfg(
        ["model=toy", "training=ideal", "tracking=wandb", f"tracking.dir={tmp_path}/wb"]
    )
    run = RunConfig.from_dictconfig(cfg)
    assert run.tracking.mode == "offline"
    results = run_tracked(run, tmp_path / "run")
    runs = list((tmp_path / "wb" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    data = b"".join(p.read_bytes() for p in runs[0].glob("*.wandb"))
    # The run's records hold the logged metric names and the resolved config.
    assert b"ssd.success_probability" in data and b"t_eff" in data
    assert b"sampling" in data and results["objective"] > 0


def test_disabled_tracking_writes_nothing(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    run = RunConfig.from_dictconfig(compose_cfg(["model=toy", "training=ideal"]))
    run_tracked(run, tmp_path / "run")
    assert not list(tmp_path.rglob("offline-run-*"))
