"""isolate_stages: each stage in a non-daemonic spawned process (ssd.stage_process).

vLLM starts child processes of its own (engine core, tensor-parallel workers); a daemonic
``multiprocessing.Pool`` worker may not, which is what crashed the paper presets. Here a real
toy pipeline runs with a backend that starts a child process inside its stage, as vLLM does.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig
from stage_helpers import exit_abruptly, raise_value_error, stage_with_a_child, start_a_child

from ssd.backends.toy import ToyBackend
from ssd.config import RunConfig
from ssd.pipeline import run_trial
from ssd.stage_process import StageProcessDied, run_in_process


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_stage_may_start_children_and_everything_dies_with_it() -> None:
    out = run_in_process(stage_with_a_child, "x")
    assert out["marker"] == "x"
    assert out["stage_pid"] != os.getpid() and out["child_pid"] not in (os.getpid(), 0)
    assert not _alive(out["stage_pid"]) and not _alive(out["child_pid"])


def test_a_daemonic_pool_worker_cannot_start_children() -> None:
    """The failure isolate_stages had: the reason run_in_process uses a plain Process."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        with pytest.raises(AssertionError, match="daemonic processes are not allowed"):
            pool.apply(stage_with_a_child, ("x",))


def test_an_abnormal_exit_is_reported_with_its_code() -> None:
    with pytest.raises(StageProcessDied, match="exited with code 3"):
        run_in_process(exit_abruptly, name="sample_stage")


def test_the_stage_exception_comes_back_with_the_child_traceback() -> None:
    with pytest.raises(ValueError, match="nowhere") as info:
        run_in_process(raise_value_error)
    notes = "".join(getattr(info.value, "__notes__", []))
    assert "raised in stage process" in notes and "raise_value_error" in notes


class ChildSpawningToyBackend(ToyBackend):
    """The toy model, starting a child process in every stage as vLLM's engine does, and
    recording which process ran each stage (the copy in the stage process writes the file)."""

    def __init__(self, record_dir: Path) -> None:
        self.record_dir = record_dir

    def _record(self, what: str) -> None:
        entry = {"what": what, "stage_pid": os.getpid(), "child_pid": start_a_child()}
        with open(self.record_dir / "stages.jsonl", "a") as fh:
            fh.write(json.dumps(entry) + "\n")

    def generate(self, *args: Any, **kwargs: Any) -> None:
        self._record("generate")
        super().generate(*args, **kwargs)

    def train(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._record("train")
        return super().train(*args, **kwargs)


@pytest.mark.integration
def test_isolated_pipeline_with_a_child_spawning_backend(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    # training=ideal: two stages (base and SSD evaluation), both sampling through the backend
    overrides = ["model=toy", "training=ideal", "evaluation.num_problems=50"]
    run = RunConfig.from_dictconfig(compose_cfg([*overrides, "isolate_stages=true"]))
    results = run_trial(run, tmp_path / "run", ChildSpawningToyBackend(tmp_path))
    entries = [json.loads(line) for line in (tmp_path / "stages.jsonl").read_text().splitlines()]
    assert [e["what"] for e in entries] == ["generate", "generate"]
    stage_pids = {e["stage_pid"] for e in entries}
    assert os.getpid() not in stage_pids and len(stage_pids) == 2  # one process per stage
    for e in entries:  # the stage processes and their children are gone, with their memory
        assert not _alive(e["stage_pid"]) and not _alive(e["child_pid"])
    inline_cfg = compose_cfg([*overrides, f"paths.cache_dir={tmp_path}/inline-cache"])
    inline = run_trial(RunConfig.from_dictconfig(inline_cfg), tmp_path / "inline", ToyBackend())
    assert not any(v["hit"] for v in inline["cache"].values())
    assert results["ssd"]["pass@1"] == inline["ssd"]["pass@1"]  # same draws in either process
