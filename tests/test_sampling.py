"""Sampling stage: shards, resume after a crash without loss or duplicates, determinism."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ssd.backends.toy import ToyBackend
from ssd.config import SamplingConfig
from ssd.records import Prompt, Sample
from ssd.sampling import load_samples, sample

PROMPTS = [Prompt(prompt_id=f"p{i}", messages=[]) for i in range(10)]
SETTINGS = SamplingConfig(
    backend="toy", temperature=1.2, top_p=0.9, n=4, max_tokens=5, batch_size=3
)


class CrashAfter:
    """The real toy backend, made to die after a number of generate calls (fault injection)."""

    def __init__(self, calls: int) -> None:
        self.inner = ToyBackend()
        self.left = calls

    def identity(self) -> dict[str, Any]:
        return self.inner.identity()

    def generate(self, *args: Any, on_batch: Callable[[list[Sample]], None], **kw: Any) -> None:
        if self.left == 0:
            raise KeyboardInterrupt("killed")
        self.left -= 1
        self.inner.generate(*args, on_batch=on_batch, **kw)


def key(s: Sample) -> tuple[str, int]:
    return (s.prompt_id, s.sample_index)


def test_all_prompts_sampled_n_times(tmp_path: Path) -> None:
    info = sample(ToyBackend(), PROMPTS, SETTINGS, tmp_path)
    samples = load_samples(tmp_path)
    assert info["num_samples"] == len(samples) == 40
    assert len(list(tmp_path.glob("shard-*.jsonl"))) == 4  # ceil(10 / 3) batches
    assert len({key(s) for s in samples}) == 40


def test_resume_after_crash_completes_without_duplicates(tmp_path: Path) -> None:
    sample(ToyBackend(), PROMPTS, SETTINGS, tmp_path / "ref")
    reference = load_samples(tmp_path / "ref")
    with pytest.raises(KeyboardInterrupt):
        sample(CrashAfter(2), PROMPTS, SETTINGS, tmp_path / "run")  # type: ignore[arg-type]
    partial = load_samples(tmp_path / "run")
    assert len(partial) == 2 * 3 * 4  # two finished shards survive
    info = sample(ToyBackend(), PROMPTS, SETTINGS, tmp_path / "run")
    resumed = load_samples(tmp_path / "run")
    assert info["resumed_prompts"] == 6
    assert sorted(map(key, resumed)) == sorted(map(key, reference))
    # The resumed run draws exactly what an uninterrupted run draws.
    by_key = {key(s): s.token_ids for s in reference}
    assert all(by_key[key(s)] == s.token_ids for s in resumed)


def test_same_seed_same_samples(tmp_path: Path) -> None:
    sample(ToyBackend(), PROMPTS, SETTINGS, tmp_path / "a")
    sample(ToyBackend(), PROMPTS, SETTINGS, tmp_path / "b")
    a, b = load_samples(tmp_path / "a"), load_samples(tmp_path / "b")
    assert [s.token_ids for s in a] == [s.token_ids for s in b]
