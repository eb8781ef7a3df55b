"""The one decoding function every backend that samples by itself goes through.

Order is vLLM's: logits / T -> top-k on the tempered distribution -> top-p inside the top-k
survivors (renormalised; at least one token kept) -> sample. T below 1e-5 means greedy.

A *chain* of decodings composes them: ``chain_logprobs(logits, [train, eval])`` first replaces the
model's distribution by the SSD target (temper at T_train, truncate with rho_train, renormalise)
and then decodes that with the evaluation settings. That is ``training=ideal``: what a perfectly
fitted SSD student would do, for every backend at no training cost.

Run the tests: ``pytest tests/test_decoding.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

GREEDY_BELOW = 1e-5
# Top-p keeps the smallest descending prefix whose mass reaches top_p. A prefix that reaches it
# only up to float rounding (0.5 + 0.3 vs 0.8) counts as reaching it.
TOP_P_TOLERANCE = 1e-7


@dataclass(frozen=True)
class Decoding:
    """One decoding setting, named like vLLM's ``SamplingParams`` fields."""

    temperature: float
    top_k: int = 0  # 0 or -1: off
    top_p: float = 1.0  # 1.0: off

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < -1:
            raise ValueError(f"top_k must be -1, 0 (off) or a positive count, got {self.top_k}")

    @property
    def greedy(self) -> bool:
        return self.temperature < GREEDY_BELOW

    def as_dict(self) -> dict[str, float | int]:
        return {"temperature": self.temperature, "top_k": self.top_k, "top_p": self.top_p}


def _sorted_desc(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sort descending; ties keep the lower token id first (stable), so results are reproducible."""
    order = torch.argsort(logits, dim=-1, descending=True, stable=True)
    return torch.gather(logits, -1, order), order


def warp(logits: torch.Tensor, decoding: Decoding) -> torch.Tensor:
    """Apply one decoding to logits over the last dimension.

    Args:
        logits: unnormalised log-probabilities, any leading shape; ``-inf`` marks excluded tokens.
        decoding: temperature, top-k and top-p, applied in vLLM's order.

    Returns:
        Log-probabilities of the same shape; ``-inf`` outside the retained set. Rows sum to one.
    """
    logits = logits.to(torch.float64)
    if decoding.greedy:
        # Greedy: all mass on the arg-max (lowest id among ties), as vLLM's greedy path.
        best = torch.argmax(logits, dim=-1, keepdim=True)
        out = torch.full_like(logits, float("-inf"))
        return out.scatter(-1, best, 0.0)
    scaled = logits / decoding.temperature
    sorted_logits, order = _sorted_desc(scaled)
    vocab = logits.shape[-1]
    keep = torch.isfinite(sorted_logits)
    if decoding.top_k > 0 and decoding.top_k < vocab:
        # vLLM keeps every token whose logit ties the k-th one.
        kth = sorted_logits[..., decoding.top_k - 1 : decoding.top_k]
        keep &= sorted_logits >= kth
    if decoding.top_p < 1.0:
        masked = sorted_logits.masked_fill(~keep, float("-inf"))
        probs = torch.softmax(masked, dim=-1)
        mass_before = torch.cumsum(probs, dim=-1) - probs
        # A token is kept while the mass before it has not reached top_p; the first always is.
        keep &= mass_before < decoding.top_p - TOP_P_TOLERANCE
        keep[..., 0] = True
    sorted_out = torch.log_softmax(sorted_logits.masked_fill(~keep, float("-inf")), dim=-1)
    return torch.empty_like(sorted_out).scatter(-1, order, sorted_out)


def chain_logprobs(logits: torch.Tensor, decodings: Sequence[Decoding]) -> torch.Tensor:
    """Apply decodings one after the other (ideal SSD student: ``[train, eval]``).

    Each step sees the previous step's log-probabilities as its logits, so tempering composes
    (``Temper_T2(Temper_T1(p)) = Temper_{T1*T2}(p)``) and truncation at each step is kept.
    """
    if not decodings:
        return torch.log_softmax(logits.to(torch.float64), dim=-1)
    out = logits
    for decoding in decodings:
        out = warp(out, decoding)
    return out


def sample_from_logprobs(
    logprobs: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Draw one token id per row from log-probabilities (``-inf`` entries are never drawn)."""
    probs = torch.exp(logprobs.reshape(-1, logprobs.shape[-1]))
    ids = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    return ids.reshape(logprobs.shape[:-1])
