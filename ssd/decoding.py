"""The one decoding function every backend that samples by itself goes through.

Order is vLLM's: logits / T -> top-k on the tempered distribution -> top-p inside the top-k
survivors (renormalised; at least one token kept) -> sample. T below 1e-5 means greedy.
Top-k ties at the k-th logit follow a named rule (``TOP_K_TIES``), so that the hf backend can
decode by the same rule as the vLLM release it is compared with (``sampling.top_k_ties``).

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
# What top-k keeps when several logits tie the k-th largest (see ``warp``):
#   "keep":  every token whose logit equals the k-th one (more than k tokens on a tie);
#   "exact": exactly k tokens, ties at the boundary broken towards the lower token id.
# vLLM's rule is stated, per pinned release, in ssd.backends.vllm_limits.VLLM_TOP_K_TIES.
TOP_K_TIES = ("keep", "exact")
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


def check_top_k_ties(rule: str) -> str:
    if rule not in TOP_K_TIES:
        raise ValueError(f"top_k_ties={rule!r} is invalid: expected one of {', '.join(TOP_K_TIES)}")
    return rule


def warp(logits: torch.Tensor, decoding: Decoding, top_k_ties: str = "keep") -> torch.Tensor:
    """Apply one decoding to logits over the last dimension.

    Args:
        logits: unnormalised log-probabilities, any leading shape; ``-inf`` marks excluded tokens.
        decoding: temperature, top-k and top-p, applied in vLLM's order.
        top_k_ties: "keep" every token tying the k-th logit, or keep "exact"ly k (lower ids win).

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
        if check_top_k_ties(top_k_ties) == "keep":
            kth = sorted_logits[..., decoding.top_k - 1 : decoding.top_k]
            keep &= sorted_logits >= kth
        else:  # the stable sort put the lower ids first among ties
            keep[..., decoding.top_k :] = False
    if decoding.top_p < 1.0:
        masked = sorted_logits.masked_fill(~keep, float("-inf"))
        probs = torch.softmax(masked, dim=-1)
        mass_before = torch.cumsum(probs, dim=-1) - probs
        # A token is kept while the mass before it has not reached top_p; the first always is.
        keep &= mass_before < decoding.top_p - TOP_P_TOLERANCE
        keep[..., 0] = True
    sorted_out = torch.log_softmax(sorted_logits.masked_fill(~keep, float("-inf")), dim=-1)
    return torch.empty_like(sorted_out).scatter(-1, order, sorted_out)


def chain_logprobs(
    logits: torch.Tensor, decodings: Sequence[Decoding], top_k_ties: str = "keep"
) -> torch.Tensor:
    """Apply decodings one after the other (ideal SSD student: ``[train, eval]``).

    Each step sees the previous step's log-probabilities as its logits, so tempering composes
    (``Temper_T2(Temper_T1(p)) = Temper_{T1*T2}(p)``) and truncation at each step is kept.
    """
    if not decodings:
        return torch.log_softmax(logits.to(torch.float64), dim=-1)
    out = logits
    for decoding in decodings:
        out = warp(out, decoding, top_k_ties)
    return out


def sample_from_logprobs(
    logprobs: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Draw one token id per row from log-probabilities (``-inf`` entries are never drawn)."""
    probs = torch.exp(logprobs.reshape(-1, logprobs.shape[-1]))
    ids = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    return ids.reshape(logprobs.shape[:-1])
