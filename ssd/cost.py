"""What a trial spent, per stage: the numbers a study's budget is made of.

Why: SFT dominates a trial's cost (the paper's recipe: 2,500 steps per student), sampling is next
and evaluation is cheapest; the stage cache makes "same student, new T_eval" cost one evaluation.
A study can only be made cheaper if every trial says what it actually computed, so each stage
that ran (a cache hit costs nothing) records here: sampled prompts and tokens, SFT steps and
tokens, evaluated programs, wall seconds, and GPU-seconds when CUDA is in use. ``run_trial``
puts the result under ``results.json["cost"]``; the sweeper sums the trials' costs
(``total_cost``) and prints them at the end of a study. Not the same numbers as
``results.json["compute"]`` (``ssd.rounds.compute_spent``): that block is what the trial's
student needs by its recipe (every round and equal-compute extra) whether or not the cache
served it, which ``analysis.beyond_report`` compares variants by; ``cost`` is what this run
computed (a cache hit costs 0). Test: ``pytest tests/test_sweep_cost.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# The counters of one trial's "cost" block, in the order a person reads them.
COUNTERS = (
    "samplings",
    "sampled_prompts",
    "sampled_tokens",
    "trainings",
    "sft_steps",
    "sft_tokens",
    "evaluations",
    "evaluated_programs",
    "wall_s",
    "gpu_s",
)


def zero() -> dict[str, float]:
    """An empty cost block (every counter present, so trials.csv columns line up)."""
    return dict.fromkeys(COUNTERS, 0)


def _gpus() -> int:
    """CUDA devices this process can use (0 without CUDA): wall seconds x this = GPU-seconds."""
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # no torch or a broken driver: no GPU accounting
        return 0


def stage_cost(
    stage: str, hit: bool, seconds: float, summary: Mapping[str, Any], extra: Mapping[str, Any]
) -> dict[str, float]:
    """The cost of one stage run: zero for a cache hit, else its counts from the stage summary.

    Args:
        stage: ``samples``, ``train`` or ``eval``.
        hit: whether the cache answered (nothing was computed).
        seconds: wall time of the stage in this process.
        summary: the stage's manifest summary (counts the stage itself wrote).
        extra: counts the pipeline knows besides the summary: ``tokens`` (sampled tokens),
            ``programs`` (evaluated programs), ``gpus`` (overrides the CUDA device count).
    """
    cost = zero()
    if hit:
        return cost
    cost["wall_s"] = round(seconds, 3)
    gpus = int(extra.get("gpus", _gpus()))
    cost["gpu_s"] = round(seconds * gpus, 3)
    if stage == "samples":
        cost["samplings"] = 1
        cost["sampled_prompts"] = int(summary.get("num_prompts", 0))
        cost["sampled_tokens"] = int(extra.get("tokens", 0))
    elif stage == "train":
        cost["trainings"] = 1
        # A resumed run computed only the steps after its checkpoint (ssd.backends.sft.run_sft).
        steps = int(summary.get("steps", 0)) - int(summary.get("resumed_from_step", 0))
        cost["sft_steps"] = steps
        if "tokens_per_second" in summary and "train_runtime" in summary:
            tokens = float(summary["tokens_per_second"]) * float(summary["train_runtime"])
        else:  # the toy's full-batch steps each see every sampled token
            tokens = steps * float(extra.get("tokens", 0))
        cost["sft_tokens"] = int(round(tokens))
    elif stage == "eval":
        cost["evaluations"] = 1
        cost["evaluated_programs"] = int(extra.get("programs", 0))
    return cost


def add(total: Mapping[str, float], more: Mapping[str, float]) -> dict[str, float]:
    """Counter-wise sum of two cost blocks (missing counters count as 0)."""
    out = zero()
    for key in COUNTERS:
        value = float(total.get(key, 0)) + float(more.get(key, 0))
        out[key] = round(value, 3) if key in ("wall_s", "gpu_s") else int(value)
    return out


def total_cost(blocks: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """The sum of many cost blocks (a trial's stages, a study's trials)."""
    out = zero()
    for block in blocks:
        out = add(out, block)
    return out


def format_cost(cost: Mapping[str, float]) -> str:
    """One line for logs and the end of a study: ``2 samplings (100 prompts, ...), ...``."""
    return (
        f"{int(cost.get('samplings', 0))} samplings ({int(cost.get('sampled_prompts', 0))} "
        f"prompts, {int(cost.get('sampled_tokens', 0))} tokens), "
        f"{int(cost.get('trainings', 0))} trainings ({int(cost.get('sft_steps', 0))} SFT steps, "
        f"{int(cost.get('sft_tokens', 0))} tokens), {int(cost.get('evaluations', 0))} "
        f"evaluations ({int(cost.get('evaluated_programs', 0))} programs), "
        f"{float(cost.get('wall_s', 0)):.1f} s wall, {float(cost.get('gpu_s', 0)):.1f} GPU-s"
    )
