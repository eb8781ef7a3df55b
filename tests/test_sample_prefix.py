"""Prefix reuse in the sampling cache: n=2 samples are the first two of n=4, the first batches of
4 prompts are those of 8, and samples built from the unit pool equal a fresh run's (toy and the
tiny world's real model through the hf backend)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from omegaconf import DictConfig

from ssd.backends.hf import HFBackend
from ssd.backends.toy import ToyBackend
from ssd.config import ModelConfig, RunConfig, SamplingConfig
from ssd.pipeline import run_trial
from ssd.records import Prompt, Sample
from ssd.sampling import TOY_BLOCK, load_samples, sample
from ssd.tinyworld.benchmark import load_prompts


def by_key(samples: list[Sample]) -> dict[tuple[str, int], list[int]]:
    return {(s.prompt_id, s.sample_index): s.token_ids for s in samples}


def test_toy_n_grows_from_the_pool(tmp_path: Path) -> None:
    prompts = [Prompt("root", [])]
    small = SamplingConfig(backend="toy", temperature=1.2, n=TOY_BLOCK, max_tokens=5)
    big = replace(small, n=2 * TOY_BLOCK)
    pool = tmp_path / "pool"
    sample(ToyBackend(), prompts, small, tmp_path / "small", pool=pool)
    grown = sample(ToyBackend(), prompts, big, tmp_path / "big", pool=pool)
    assert (grown["units_from_pool"], grown["units_drawn"]) == (1, 1)
    fresh = sample(ToyBackend(), prompts, big, tmp_path / "fresh")
    assert fresh["units_drawn"] == 2
    assert by_key(load_samples(tmp_path / "big")) == by_key(load_samples(tmp_path / "fresh"))


@pytest.fixture(scope="module")
def tiny_backend() -> HFBackend:
    import torch

    torch.set_num_threads(1)
    model = ModelConfig(
        name="tiny",
        path="pkg://ssd/data/tinyworld/base",
        dtype="float32",
        chat_template=False,
        device="cpu",
    )
    return HFBackend(model)


@pytest.mark.integration
def test_tiny_world_prefixes_equal_fresh_runs(tmp_path: Path, tiny_backend: HFBackend) -> None:
    prompts = load_prompts(n=8, seed=0)
    two = SamplingConfig(backend="hf", temperature=1.0, top_p=0.9, n=2, max_tokens=40, batch_size=4)
    four = replace(two, n=4)
    pool = tmp_path / "pool"
    sample(tiny_backend, prompts, two, tmp_path / "two", pool=pool)
    grown = sample(tiny_backend, prompts, four, tmp_path / "four", pool=pool)
    assert (grown["units_from_pool"], grown["units_drawn"]) == (4, 4)  # 2 batches x 2 indices
    assert grown["drawn_samples"] == 16
    sample(tiny_backend, prompts, four, tmp_path / "fresh")
    assert by_key(load_samples(tmp_path / "four")) == by_key(load_samples(tmp_path / "fresh"))
    # n=2 served from n=4 alone, and 4 prompts (one whole batch) from 8: nothing drawn
    served = sample(tiny_backend, prompts, two, tmp_path / "served", pool=tmp_path / "pool4")
    sample(tiny_backend, prompts, four, tmp_path / "four4", pool=tmp_path / "pool4")
    again = sample(tiny_backend, prompts[:4], two, tmp_path / "half", pool=tmp_path / "pool4")
    assert served["units_drawn"] == 4 and again["units_drawn"] == 0
    fresh_two = by_key(load_samples(tmp_path / "served"))
    half = by_key(load_samples(tmp_path / "half"))
    assert half == {
        k: v for k, v in fresh_two.items() if k[0] in {p.prompt_id for p in prompts[:4]}
    }
    four4 = by_key(load_samples(tmp_path / "four4"))
    assert {k: four4[k] for k in fresh_two} == fresh_two


def test_pipeline_reuses_samples_across_n(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    base = ["model=toy", "tracking=none", "evaluation.num_problems=20"]
    small = run_trial(
        RunConfig.from_dictconfig(compose_cfg([*base, f"sampling.n={TOY_BLOCK}"])), tmp_path / "a"
    )
    big = run_trial(
        RunConfig.from_dictconfig(compose_cfg([*base, f"sampling.n={2 * TOY_BLOCK}"])),
        tmp_path / "b",
    )
    assert not big["cache"]["samples"]["hit"]
    assert big["rounds"][0]["samples"]["units_from_pool"] == 1
    assert small["rounds"][0]["samples"]["units_drawn"] == 1
