"""Sampling stage: draw the SSD training set from the frozen base model at T_train.

Samples go into ``shard-NNNNN.jsonl`` files, one shard per batch of prompts, each written by
rename; a restarted run reads the shards present and samples only the prompts not yet done, so
killing it midway loses nothing and duplicates nothing.
Test: ``pytest tests/test_sampling.py``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ssd.backends.base import Backend, Policy
from ssd.config import SamplingConfig
from ssd.records import Prompt, Sample

log = logging.getLogger(__name__)

SHARD_GLOB = "shard-*.jsonl"


def iter_samples(folder: Path) -> Iterator[Sample]:
    """All samples of a (possibly partial) sampling folder, shard by shard."""
    for shard in sorted(Path(folder).glob(SHARD_GLOB)):
        with shard.open() as handle:
            for line in handle:
                yield Sample.from_json(json.loads(line))


def load_samples(folder: Path) -> list[Sample]:
    return list(iter_samples(folder))


def _write_shard(folder: Path, index: int, samples: Sequence[Sample]) -> None:
    path = folder / f"shard-{index:05d}.jsonl"
    tmp = folder / f".shard-{index:05d}.{os.getpid()}.tmp"
    with tmp.open("w") as handle:
        for sample in samples:
            handle.write(json.dumps(sample.to_json()) + "\n")
    os.replace(tmp, path)


def sample(
    backend: Backend,
    prompts: Sequence[Prompt],
    sampling: SamplingConfig,
    out_dir: Path,
    policy: Policy | None = None,
) -> dict[str, Any]:
    """Sample ``sampling.n`` completions per prompt into ``out_dir``, resuming what is there.

    Args:
        backend: the model backend.
        prompts: the unlabelled training prompts.
        sampling: T_train, truncation, counts and seed.
        out_dir: the artifact's work folder (may contain shards of a crashed run).
        policy: what to sample from; the base model by default.

    Returns:
        Counts for the manifest: prompts, samples, resumed prompts, length-truncated samples.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    done_ids = {s.prompt_id for s in iter_samples(out_dir)}
    shard_index = len(list(out_dir.glob(SHARD_GLOB)))
    todo = [p for p in prompts if p.prompt_id not in done_ids]
    if done_ids:
        log.info("sampling resumes: %d prompts already done, %d to go", len(done_ids), len(todo))
    decoding = sampling.decoding()
    progress = tqdm(total=len(todo), desc="sampling", unit="prompt", disable=None)
    for start in range(0, len(todo), sampling.batch_size):
        batch = todo[start : start + sampling.batch_size]
        collected: list[Sample] = []
        backend.generate(
            policy or Policy(),
            batch,
            decoding,
            n=sampling.n,
            max_tokens=sampling.max_tokens,
            # The seed depends on the batch's position in the full prompt list, so a resumed
            # run draws what an uninterrupted one would have drawn.
            seed=sampling.seed + len(done_ids) + start,
            on_batch=collected.extend,
        )
        _write_shard(out_dir, shard_index, collected)
        shard_index += 1
        progress.update(len(batch))
    progress.close()
    samples = load_samples(out_dir)
    per_prompt: dict[str, int] = {}
    for s in samples:
        per_prompt[s.prompt_id] = per_prompt.get(s.prompt_id, 0) + 1
    wrong = {pid: c for pid, c in per_prompt.items() if c != sampling.n}
    if wrong or len(per_prompt) != len(prompts):
        raise RuntimeError(
            f"sampling folder {out_dir} is inconsistent: counts {wrong or per_prompt}"
        )
    return {
        "num_prompts": len(prompts),
        "num_samples": len(samples),
        "resumed_prompts": len(done_ids),
        "length_truncated": sum(s.finish_reason == "length" for s in samples),
    }
