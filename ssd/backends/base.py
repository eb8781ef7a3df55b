"""The narrow interface every model backend implements (toy, hf, vllm).

A *policy* is what gets decoded: a base model or a trained checkpoint, optionally with a chain of
decodings applied before the caller's own (``training=ideal`` puts the SSD target there).
Stages (``ssd.sampling``, ``ssd.training``, ``ssd.evaluation``) talk to backends only through this.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ssd.decoding import Decoding
from ssd.records import Prompt, Sample


@dataclass(frozen=True)
class Policy:
    """A model to decode from.

    checkpoint: None for the base model, else a directory written by ``Backend.train``.
    pre: decodings applied before the caller's decoding (ideal SSD student: ``(train_decoding,)``).
    """

    checkpoint: str | None = None
    pre: tuple[Decoding, ...] = ()

    def chain(self, decoding: Decoding) -> list[Decoding]:
        return [*self.pre, decoding]


class Backend(Protocol):
    """What a model backend provides to the stages."""

    def identity(self) -> dict[str, Any]:
        """Everything that identifies the base model (goes into every cache key)."""
        ...

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
        """Sample ``n`` completions per prompt with ``policy.chain(decoding)``.

        Calls ``on_batch`` with finished samples as they come, so callers can shard and resume.
        Same seed, prompts and settings give the same samples.
        """
        ...

    def train(self, samples: Sequence[Sample], training: Any, out_dir: Path) -> dict[str, Any]:
        """Fine-tune the base model on raw samples; write the checkpoint into ``out_dir``.

        Returns training metrics (final loss, steps, ...).
        """
        ...
