"""Plain records passed between stages: prompts in, samples out. No logic, JSON-friendly."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Every run folder's summary (ssd.pipeline.run_trial writes it last; sweeps and analysis read it).
RESULTS_FILE = "results.json"


@dataclass
class Prompt:
    """One prompt to sample from: chat turns, rendered by the backend (chat template on or off)."""

    prompt_id: str
    messages: list[dict[str, str]]  # [{"role": "system"|"user", "content": ...}, ...]
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Sample:
    """One sampled completion with everything SFT and later analysis need (no re-tokenisation)."""

    prompt_id: str
    sample_index: int
    prompt_text: str
    prompt_token_ids: list[int]
    completion: str
    token_ids: list[int]
    finish_reason: str  # "stop" (EOS or a stop condition) | "length" (hit max_tokens)
    decoding: list[dict[str, Any]]  # the decoding chain that produced it, outermost last

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Sample:
        return cls(**data)
