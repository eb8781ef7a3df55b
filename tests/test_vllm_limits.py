"""Settings the pinned vLLM cannot honour are refused at validation when sampling.backend=vllm
(one line naming the key, exit 2, nothing computed), and accepted for the hf backend."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from ssd.config import ConfigError, RunConfig

# A paper preset (sampling.backend=vllm); model.path is never opened at validation.
PRESET = ["model=qwen3-4b-instruct"]


def validate(compose_cfg: Callable[..., DictConfig], overrides: list[str]) -> RunConfig:
    return RunConfig.from_dictconfig(compose_cfg([*PRESET, *overrides]))


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        (["evaluation.temperature=0.000001"], ["evaluation.temperature=1e-06", "evaluation.n=10"]),
        (["sampling.temperature=0.000001", "sampling.n=4"], ["sampling.temperature", "n=1"]),
        (["evaluation.temperature=0.005"], ["evaluation.temperature=0.005", ">= 0.01"]),
        (["sampling.temperature=0.009"], ["sampling.temperature=0.009", ">= 0.01"]),
        (["sampling.top_k_ties=keep"], ["sampling.top_k_ties='keep'", "exact"]),
    ],
)
def test_vllm_refusals(
    compose_cfg: Callable[..., DictConfig], overrides: list[str], names: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        validate(compose_cfg, overrides)
    message = str(info.value)
    assert "\n" not in message and "sampling.backend=vllm" in message
    for name in names:
        assert name in message


def test_what_vllm_honours_passes(compose_cfg: Callable[..., DictConfig]) -> None:
    run = validate(compose_cfg, ["evaluation.temperature=0.01", "sampling.top_k_ties=exact"])
    assert run.sampling.backend == "vllm"
    # greedy with one sample is fine; temperatures above 2 go through the logits processor
    validate(compose_cfg, ["evaluation.temperature=0.000001", "evaluation.n=1", "evaluation.k=[1]"])
    validate(compose_cfg, ["sampling.temperature=3.0"])


def test_the_hf_backend_keeps_these_settings(compose_cfg: Callable[..., DictConfig]) -> None:
    run = validate(
        compose_cfg,
        ["sampling.backend=hf", "evaluation.temperature=0.000001", "sampling.top_k_ties=keep"],
    )
    assert run.evaluation.temperature == 1e-6 and run.sampling.top_k_ties == "keep"


def test_an_unknown_tie_rule_is_refused(compose_cfg: Callable[..., DictConfig]) -> None:
    with pytest.raises(ConfigError, match=r"sampling.top_k_ties='lowest'.*auto, keep, exact"):
        validate(compose_cfg, ["sampling.backend=hf", "sampling.top_k_ties=lowest"])


@pytest.mark.integration  # the real CLI in a fresh interpreter: ~5 s
def test_cli_refuses_greedy_with_several_samples_before_compute(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ssd.cli",
            *PRESET,
            "evaluation.temperature=0.000001",
            f"paths.output_dir={tmp_path}",
            "tracking=none",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ssd: invalid config: evaluation.temperature")
    assert not (tmp_path / "cache").exists() and not list(tmp_path.glob("runs/*/*"))
