"""Sampling stage: draw the SSD training set from a policy (base model or student) at T_train.

Work is cut into *units*: one batch of prompts (``sampling.batch_size``, positions fixed from the
start of the prompt list) times one block of sample indices. A unit's seed depends only on the
run seed and its block, and the hf/vLLM backends seed each batch from its prompt ids, so a unit's
samples do not depend on ``sampling.n`` or on how many prompts follow. Hence:

- ``n=2`` samples are exactly the first two sample indices of ``n=4``, and the first 1000 of 4000
  tiny-world prompts (whole batches) are the same in both runs;
- every finished unit is also kept in a *unit pool* shared by all sampling settings that differ
  only in ``n`` and ``data.num_prompts`` (``pool``), so a new setting copies what another
  already drew (in both directions: n=4 from n=2 plus new draws, n=2 from n=4) and draws the rest;
- a killed run loses nothing: finished units are files (written by rename) and are skipped.

The toy backend draws a whole block of sample indices in one vectorised call, so its blocks are
``TOY_BLOCK`` samples long; real backends use blocks of one sample.
Test: ``pytest tests/test_sampling.py tests/test_sample_prefix.py``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ssd.backends.base import Backend, Policy
from ssd.config import SamplingConfig
from ssd.records import Prompt, Sample

log = logging.getLogger(__name__)

SHARD_GLOB = "shard-*.jsonl"
TOY_BLOCK = 2000  # toy samples per unit (one vectorised draw); real backends: one per unit


def iter_samples(folder: Path) -> Iterator[Sample]:
    """All samples of a (possibly partial) sampling folder, shard by shard."""
    for shard in sorted(Path(folder).glob(SHARD_GLOB)):
        with shard.open() as handle:
            for line in handle:
                yield Sample.from_json(json.loads(line))


def load_samples(folder: Path) -> list[Sample]:
    return list(iter_samples(folder))


@dataclass(frozen=True)
class Unit:
    """One generate call: the prompts from ``start`` x sample indices ``first:first+count``."""

    start: int
    prompts: tuple[Prompt, ...]
    first: int
    count: int

    @property
    def ids_hash(self) -> str:
        batch = json.dumps([[p.prompt_id, p.messages] for p in self.prompts], sort_keys=True)
        return hashlib.sha256(batch.encode()).hexdigest()[:16]

    @property
    def shard_name(self) -> str:
        # Sample-block major: the shards of n=2 sort before the extra ones of n=4.
        return f"shard-{self.first:07d}-{self.start:08d}.jsonl"

    @property
    def pool_name(self) -> str:
        return f"{self.first:07d}-{self.count}-{self.ids_hash}.jsonl"


def block_size(backend_name: str) -> int:
    return TOY_BLOCK if backend_name == "toy" else 1


def unit_seed(seed: int, first: int) -> int:
    """The seed of a block of sample indices: the run seed and the block only (prefix property)."""
    digest = hashlib.sha256(json.dumps(["sample-block", seed, first]).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def plan_units(prompts: Sequence[Prompt], sampling: SamplingConfig) -> list[Unit]:
    """The units of a sampling run, sample-block major."""
    block = block_size(sampling.backend)
    units = []
    for first in range(0, sampling.n, block):
        count = min(block, sampling.n - first)
        for start in range(0, len(prompts), sampling.batch_size):
            batch = tuple(prompts[start : start + sampling.batch_size])
            units.append(Unit(start, batch, first, count))
    return units


def _write_atomic(path: Path, samples: Sequence[Sample]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w") as handle:
        for s in samples:
            handle.write(json.dumps(s.to_json()) + "\n")
    os.replace(tmp, path)


def _place(source: Path, target: Path) -> None:
    """Hard-link (no copy on one file system) or copy a finished unit file into place."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def _draw(backend: Backend, unit: Unit, sampling: SamplingConfig, policy: Policy) -> list[Sample]:
    collected: list[Sample] = []
    backend.generate(
        policy,
        list(unit.prompts),
        sampling.decoding(),
        n=unit.count,
        max_tokens=sampling.max_tokens,
        seed=unit_seed(sampling.seed, unit.first),
        on_batch=collected.extend,
    )
    for s in collected:  # the backend numbers from 0 within the block
        s.sample_index += unit.first
    return collected


def sample(
    backend: Backend,
    prompts: Sequence[Prompt],
    sampling: SamplingConfig,
    out_dir: Path,
    policy: Policy | None = None,
    pool: Path | None = None,
) -> dict[str, Any]:
    """Sample ``sampling.n`` completions per prompt into ``out_dir``, reusing what exists.

    Args:
        backend: the model backend.
        prompts: the unlabelled training prompts.
        sampling: T_train, truncation, counts and seed.
        out_dir: the artifact's work folder (may contain units of a crashed run).
        policy: what to sample from; the base model by default.
        pool: the unit pool of this policy and sampling setting (any n, any prompt count);
            None: no sharing beyond ``out_dir``.

    Returns:
        Counts for the manifest: prompts, samples, units resumed / taken from the pool / drawn,
        samples and completion tokens drawn here, length-truncated samples.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    if pool is not None:
        pool.mkdir(parents=True, exist_ok=True)
    units = plan_units(prompts, sampling)
    resumed = [u for u in units if (out_dir / u.shard_name).is_file()]
    rest = [u for u in units if not (out_dir / u.shard_name).is_file()]
    pooled = [u for u in rest if pool is not None and (pool / u.pool_name).is_file()]
    pooled_names = {u.shard_name for u in pooled}
    todo = [u for u in rest if u.shard_name not in pooled_names]
    for unit in pooled:
        assert pool is not None
        _place(pool / unit.pool_name, out_dir / unit.shard_name)
    if resumed or pooled:
        log.info(
            "sampling: %d units resumed, %d from the pool, %d to draw",
            len(resumed),
            len(pooled),
            len(todo),
        )
    drawn_samples = drawn_tokens = 0
    progress = tqdm(total=len(todo), desc="sampling", unit="batch", disable=None)
    for unit in todo:
        collected = _draw(backend, unit, sampling, policy or Policy())
        drawn_samples += len(collected)
        drawn_tokens += sum(len(s.token_ids) for s in collected)
        if pool is not None:
            _write_atomic(pool / unit.pool_name, collected)
            _place(pool / unit.pool_name, out_dir / unit.shard_name)
        else:
            _write_atomic(out_dir / unit.shard_name, collected)
        progress.update(1)
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
    pending = {p.prompt_id for u in (*todo, *pooled) for p in u.prompts}
    return {
        "num_prompts": len(prompts),
        "num_samples": len(samples),
        "resumed_prompts": sum(p.prompt_id not in pending for p in prompts) if resumed else 0,
        "units": len(units),
        "units_resumed": len(resumed),
        "units_from_pool": len(pooled),
        "units_drawn": len(todo),
        "drawn_samples": drawn_samples,
        "drawn_tokens": drawn_tokens,
        "completion_tokens": sum(len(s.token_ids) for s in samples),
        "length_truncated": sum(s.finish_reason == "length" for s in samples),
    }
