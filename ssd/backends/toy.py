"""The toy lock/fork machine as a pipeline backend: sampling, SGD student, exact evaluation.

Samples are whole token sequences from the root state (one prompt, ``root``); training fits a
logit table per state by gradient descent on their cross-entropy; a checkpoint is that table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ssd.backends.base import Policy
from ssd.decoding import Decoding, chain_logprobs
from ssd.models import toy
from ssd.records import Prompt, Sample

CHECKPOINT_FILE = "student_logprobs.pt"
ROOT_PROMPT = Prompt(prompt_id="root", messages=[])


def _token_text(ids: Sequence[int]) -> str:
    return " ".join(f"tok{i}" for i in ids)


class ToyBackend:
    """Backend over ``ssd.models.toy``; the base model is the paper's teacher."""

    def identity(self) -> dict[str, Any]:
        return {"backend": "toy", "model": "paper_toy_v1", "vocab": toy.VOCAB}

    def logprobs(self, policy: Policy) -> torch.Tensor:
        """Per-state log-probabilities of a policy before its ``pre`` chain."""
        if policy.checkpoint is None:
            return toy.teacher_logprobs()
        return torch.load(Path(policy.checkpoint) / CHECKPOINT_FILE)

    def generate(
        self,
        policy: Policy,
        prompts: Sequence[Prompt],
        decoding: Decoding,
        *,
        n: int,
        max_tokens: int,
        seed: int,
        on_batch: Callable[[list[Sample]], None],
    ) -> None:
        chain = policy.chain(decoding)
        # One vectorised draw for the whole batch of prompts, then split n per prompt.
        gen = torch.Generator().manual_seed(seed)
        seqs, passed = toy.sample_sequences(self.logprobs(policy), chain, n * len(prompts), gen)
        meta = [d.as_dict() for d in chain]
        for i, prompt in enumerate(prompts):
            rows = range(i * n, (i + 1) * n)
            on_batch(
                [
                    Sample(
                        prompt_id=prompt.prompt_id,
                        sample_index=j,
                        prompt_text="",
                        prompt_token_ids=[],
                        completion=_token_text(seqs[r][:max_tokens]),
                        token_ids=seqs[r][:max_tokens],
                        finish_reason="stop" if len(seqs[r]) <= max_tokens else "length",
                        decoding=[*meta, {"passed": passed[r]}],
                    )
                    for j, r in enumerate(rows)
                ]
            )

    def train(self, samples: Sequence[Sample], training: Any, out_dir: Path) -> dict[str, Any]:
        """SFT: the toy has none (its student is a logit table: ``fit_logit_table``)."""
        raise ValueError(f"training.method={training.method!r} is invalid: expected sgd or ideal")

    def fit_logit_table(self, samples: Sequence[Sample], sgd: Any, out_dir: Path) -> dict[str, Any]:
        """training.method=sgd: Adam on the samples' cross-entropy, ``sgd.steps`` steps at
        ``sgd.learning_rate``, started at the teacher; the table goes to ``out_dir``."""
        counts = toy.visited_counts([s.token_ids for s in samples])
        teacher = toy.teacher_logprobs()
        student, losses = toy.fit_student(
            counts, teacher, steps=sgd.steps, learning_rate=sgd.learning_rate
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        torch.save(student, out_dir / CHECKPOINT_FILE)
        visits = counts.sum(dim=-1)
        # How far the fitted student is from the closed-form one (the SSD target of the chain
        # that produced the samples): per-state total variation.
        chain = [Decoding(**d) for d in samples[0].decoding if "temperature" in d]
        tv = toy.total_variation(student, chain_logprobs(teacher, chain)).tolist()
        (out_dir / "visits.json").write_text(
            json.dumps(dict(zip(toy.STATE_NAMES, visits.tolist(), strict=True)), indent=1)
        )
        return {
            "final_loss": losses[-1] if losses else float("nan"),
            "first_loss": losses[0] if losses else float("nan"),
            "steps": len(losses),
            "num_samples": len(samples),
            "tv_to_ideal_max": max(tv),
            "tv_to_ideal": dict(zip(toy.STATE_NAMES, tv, strict=True)),
        }

    def exact_metrics(
        self, policy: Policy, decoding: Decoding, ks: Sequence[int]
    ) -> dict[str, float]:
        """Exact success probability and exact pass@k = 1 - (1 - P)^k under a decoding."""
        p = toy.success_probability(self.logprobs(policy), policy.chain(decoding))
        out = {"success_probability": p}
        out.update({f"exact_pass@{k}": 1.0 - (1.0 - p) ** k for k in ks})
        return out
