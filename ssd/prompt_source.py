"""Where the SSD training prompts come from, by ``data.name``; and their cache fingerprint."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from ssd.config import DataConfig
from ssd.records import Prompt


def load_prompts(data: DataConfig, model: Any, evaluation: Any) -> list[Prompt]:
    """The unlabelled prompts to sample the SSD training set from.

    ``toy``: the toy machine's single root context. ``tinyworld``: SSD-prompt families of the
    project's synthetic code world. ``jsonl``/``parquet``/``rstar_seed``: prompt files.
    """
    if data.name == "toy":
        return [Prompt(prompt_id="root", messages=[])]
    if data.name == "tinyworld":
        from ssd.tinyworld.benchmark import load_prompts as tiny_prompts

        return tiny_prompts(n=data.num_prompts, seed=data.seed)
    if data.name in ("jsonl", "parquet", "rstar_seed"):
        from ssd.prompt_sets import load_prompt_set

        return load_prompt_set(data, model)
    raise ValueError(
        f"data.name={data.name!r} is invalid: expected one of "
        "toy, tinyworld, jsonl, parquet, rstar_seed"
    )


def fingerprint(prompts: Sequence[Prompt]) -> str:
    """Hash of prompt ids and messages: part of the sampling cache key."""
    digest = hashlib.sha256()
    for p in prompts:
        digest.update(json.dumps([p.prompt_id, p.messages], sort_keys=True).encode())
    return f"{len(prompts)}:{digest.hexdigest()[:16]}"
