"""training.rounds: round r samples round r-1's student; cache keys chain per round; every round
is in results.json (toy and tiny world, real runs)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig
from test_verify import TINY, TOY

from ssd.config import RunConfig
from ssd.pipeline import run_trial


def trial(compose_cfg: Callable[..., DictConfig], out: Path, overrides: list[str]) -> dict:
    return run_trial(RunConfig.from_dictconfig(compose_cfg(overrides)), out)


def manifest(path: str) -> dict:
    return json.loads(Path(path, "manifest.json").read_text())


def test_toy_rounds_chain_and_extend(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    two = trial(compose_cfg, tmp_path / "two", [*TOY, "training.rounds=2"])
    assert [r["round"] for r in two["rounds"]] == [1, 2]
    assert two["ssd"] == two["rounds"][1]["ssd"]
    assert two["rounds"][0]["ssd"]["success_probability"] != two["ssd"]["success_probability"]
    cache = two["cache"]
    assert {"samples", "train", "eval_ssd_r1", "samples_r2", "train_r2", "eval_ssd"} <= set(cache)
    # round 2 samples round 1's student: its key holds round 1's training key
    r2_samples = manifest(cache["samples_r2"]["path"])["payload"]
    assert r2_samples["policy"] == {"kind": "trained", "train": cache["train"]["key"]}
    assert manifest(cache["train_r2"]["path"])["payload"]["samples"] == cache["samples_r2"]["key"]
    assert two["compute"]["rounds"] == 2 and two["compute"]["sampled"] == 4000
    # one round is round 1 of two; three rounds recompute only round 3
    one = trial(compose_cfg, tmp_path / "one", TOY)
    assert (
        one["cache"]["train"]["hit"] and one["cache"]["samples"]["key"] == cache["samples"]["key"]
    )
    three = trial(compose_cfg, tmp_path / "three", [*TOY, "training.rounds=3"])
    assert three["cache"]["train_r2"]["hit"] and not three["cache"]["train_r3"]["hit"]
    assert three["rounds"][1]["ssd"] == two["ssd"]  # the same cached evaluation


@pytest.mark.slow
def test_tiny_world_two_rounds(compose_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    res = trial(compose_cfg, tmp_path / "r", [*TINY, "training.rounds=2"])
    assert len(res["rounds"]) == 2
    assert res["rounds"][1]["samples"]["units_drawn"] == res["rounds"][1]["samples"]["units"]
    assert 0 <= res["rounds"][0]["ssd"]["pass@1"] <= 1 and "pass@1" in res["ssd"]
    assert res["compute"]["train_steps"] == 4


# The hf backend on the random tiny Qwen3 (its samples are noise: verification would keep none).
HF = [
    "model=tiny-random",
    "tracking=none",
    "data.num_prompts=4",
    "++evaluation.include_ideal=false",
]


@pytest.mark.slow
def test_hf_tiny_random_rounds_and_prefix(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    two = trial(compose_cfg, tmp_path / "two", [*HF, "training.rounds=2", "sampling.n=2"])
    assert len(two["rounds"]) == 2 and two["compute"]["sampled"] == 16
    four = trial(compose_cfg, tmp_path / "four", [*HF, "sampling.n=4"])
    assert four["rounds"][0]["samples"]["units_from_pool"] == 2  # n=2 of the first run


@pytest.mark.gpu
def test_vllm_rounds_chain(compose_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    pytest.importorskip("vllm")
    gpu = [
        "sampling.backend=vllm",
        "model.device=cuda",
        "model.max_model_len=512",
        "model.gpu_memory_utilization=0.3",
        "isolate_stages=true",
    ]
    two = trial(compose_cfg, tmp_path / "two", [*HF, *gpu, "training.rounds=2", "sampling.n=2"])
    assert len(two["rounds"]) == 2
    cache = two["cache"]
    payload = manifest(cache["samples_r2"]["path"])["payload"]
    assert payload["policy"] == {"kind": "trained", "train": cache["train"]["key"]}
    four = trial(compose_cfg, tmp_path / "four", [*HF, *gpu, "sampling.n=4"])
    assert four["rounds"][0]["samples"]["units_from_pool"] == 2
