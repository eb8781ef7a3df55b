"""Must-show 2: each mistake fails at validation, before any model loads, with one line naming
the key; the CLI exits 2 within seconds and leaves no run or cache folder behind.

Most mistakes are checked in-process (``ssd.preflight.validate``, what the CLI calls); two run
the real ``ssd`` CLI in a subprocess to show the exit status and the clean output folder.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from ssd.config import ConfigError
from ssd.preflight import validate


def _fails(compose_cfg: Callable[..., DictConfig], overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        validate(compose_cfg(overrides))
    assert "\n" not in str(info.value)


def test_objective_the_benchmark_does_not_report(compose_cfg: Callable[..., DictConfig]) -> None:
    _fails(compose_cfg, ["model=toy", "objective=ssd.pass@10"], r"objective='ssd\.pass@10'.*k")


def test_objective_with_an_unknown_metric(compose_cfg: Callable[..., DictConfig]) -> None:
    _fails(compose_cfg, ["model=tiny", "objective=ssd.accuracy"], r"objective='ssd\.accuracy'")


def test_objective_on_the_ideal_student_when_none_is_evaluated(
    compose_cfg: Callable[..., DictConfig],
) -> None:
    _fails(compose_cfg, ["model=toy", "training=ideal", "objective=ideal.pass@1"], "objective=")


def test_objective_toy_metric_on_a_code_benchmark(compose_cfg: Callable[..., DictConfig]) -> None:
    overrides = ["model=tiny", "objective=ssd.success_probability"]
    _fails(compose_cfg, overrides, r"objective='ssd\.success_probability'")


def test_unknown_data_name(compose_cfg: Callable[..., DictConfig]) -> None:
    _fails(compose_cfg, ["model=tiny", "data.name=rstar"], r"data\.name='rstar'.*rstar_seed")


def test_unknown_benchmark(compose_cfg: Callable[..., DictConfig]) -> None:
    _fails(compose_cfg, ["model=tiny", "evaluation.benchmark=mbpp"], r"evaluation\.benchmark")


def test_data_path_not_set(compose_cfg: Callable[..., DictConfig]) -> None:
    _fails(compose_cfg, ["model=tiny", "data=rstar_seed"], r"data\.path is not set.*rstar_seed")


def test_data_path_missing(compose_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    overrides = ["model=tiny", "data=rstar_seed", f"data.path={tmp_path}/rStar-Coder"]
    _fails(compose_cfg, overrides, r"data\.path=.*rStar-Coder' does not exist")


def test_data_path_without_prompt_files(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("no jsonl here")
    overrides = ["model=tiny", "data.name=jsonl", f"++data.path={tmp_path}"]
    _fails(compose_cfg, overrides, r"data\.path=.* holds no \.jsonl files")


def test_ideal_student_needs_no_prompt_files(compose_cfg: Callable[..., DictConfig]) -> None:
    validate(compose_cfg(["model=tiny", "data=rstar_seed", "training=ideal"]))


def test_livecodebench_folder_not_set(compose_cfg: Callable[..., DictConfig]) -> None:
    _fails(compose_cfg, ["model=tiny", "evaluation=lcb_v6"], r"evaluation\.data_path is not set")


def test_livecodebench_folder_missing_a_release_file(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    (tmp_path / "test.jsonl").write_text("")
    overrides = [
        "model=tiny",
        "evaluation=lcb_v6",
        "evaluation.benchmark=lcb_release_v2",
        f"evaluation.data_path={tmp_path}",
    ]
    _fails(compose_cfg, overrides, r"evaluation\.data_path=.* lacks test2\.jsonl")


def test_humaneval_file_missing(compose_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    overrides = ["model=tiny", "evaluation=humaneval", f"evaluation.data_path={tmp_path}/he.jsonl"]
    _fails(compose_cfg, overrides, r"evaluation\.data_path=.*he\.jsonl' is not a file")


def test_completion_template_on_livecodebench(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    overrides = ["model=tiny", "evaluation=lcb_v6", "evaluation.template=humaneval_completion"]
    _fails(compose_cfg, overrides, r"evaluation\.template='humaneval_completion'.*statement")


def test_completion_template_on_rstar_prompts(compose_cfg: Callable[..., DictConfig]) -> None:
    overrides = ["model=tiny", "data=rstar_seed", "data.template=humaneval_completion"]
    _fails(compose_cfg, overrides, r"data\.template='humaneval_completion'")


def test_k_larger_than_n(compose_cfg: Callable[..., DictConfig]) -> None:
    _fails(compose_cfg, ["model=tiny", "evaluation.n=4", "evaluation.k=[1,5]"], r"evaluation\.k")


def _ssd(out: Path, *overrides: str) -> tuple[subprocess.CompletedProcess[str], float]:
    args = [sys.executable, "-m", "ssd.cli", "tracking=none", f"paths.output_dir={out}"]
    start = time.monotonic()
    proc = subprocess.run([*args, *overrides], capture_output=True, text=True, timeout=120)
    return proc, time.monotonic() - start


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model=toy", "objective=ssd.pass@10"], "objective='ssd.pass@10' is invalid"),
        (["model=tiny", "evaluation=lcb_v6"], "evaluation.data_path is not set"),
    ],
)
def test_cli_exits_2_fast_and_leaves_nothing(
    tmp_path: Path, overrides: list[str], message: str
) -> None:
    out = tmp_path / "outputs"
    proc, seconds = _ssd(out, *overrides)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()  # no run folder, no cache: the folders Hydra made are gone too
    assert seconds < 30  # no model, no torch: a few seconds on an idle machine
