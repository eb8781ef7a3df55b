"""What the pinned vLLM releases accept and do, stated once, so that a config vLLM cannot honour
is refused at validation (one line, exit 2) instead of after a model has loaded on a GPU.

Read from vLLM's own source for every release in ``VLLM_RANGE`` (``vllm/sampling_params.py``,
``vllm/v1/sample/ops/topk_topp_triton.py``) and checked against the installed package by
``make check-vllm`` (tests/test_vllm_real.py):

- ``SamplingParams`` rejects temperature > 2 (``MAX_TEMPERATURE``). Our backend does not pass such
  temperatures on: products of chained temperatures above it (T_train x T_eval of the ideal
  student) and single temperatures above it go through the logits processor (``plan_decoding``).
- It silently raises 0 < temperature < 0.01 to 0.01 (``MIN_TEMPERATURE``): refused here, since
  the run would not decode at the temperature it records.
- Temperature below 1e-5 is greedy, and greedy with n > 1 is a ValueError: refused here.
- Top-k on CUDA goes through a Triton kernel that keeps exactly k tokens, breaking ties at the
  k-th logit by position ("exact"); ``ssd.decoding``'s default keeps every tied token ("keep").
  ``sampling.top_k_ties=exact`` makes the hf backend decode by vLLM's rule.
"""

from __future__ import annotations

from typing import Any

VLLM_RANGE = ">=0.32,<0.34"  # the vllm extra in pyproject.toml; make check-vllm installs 0.33.0
MAX_TEMPERATURE = 2.0
MIN_TEMPERATURE = 0.01
GREEDY_BELOW = 1e-5
# Top-k tie rule of vLLM's sampler on CUDA (Triton top-k/top-p kernel) in the pinned releases.
VLLM_TOP_K_TIES = "exact"
# SamplingParams.extra_args keys of the ideal student's logits processor (vllm_processor).
PRE_KEY = "ssd_pre"  # the pre-decodings, as Decoding.as_dict()s
TIES_KEY = "ssd_top_k_ties"  # the tie rule of the pre-decodings' top-k


def vllm_refusal(section: str, temperature: float, n: int) -> str | None:
    """Why vLLM cannot decode ``section`` as configured (a one-line message), or None."""
    if temperature < GREEDY_BELOW and n > 1:
        return (
            f"{section}.temperature={temperature!r} with {section}.n={n} is invalid for "
            "sampling.backend=vllm: expected n=1 for greedy decoding (temperature < 1e-5; vLLM "
            "refuses greedy with n > 1) or a temperature >= 0.01"
        )
    if GREEDY_BELOW <= temperature < MIN_TEMPERATURE:
        return (
            f"{section}.temperature={temperature!r} is invalid for sampling.backend=vllm: expected "
            f">= {MIN_TEMPERATURE} (vLLM raises lower temperatures to {MIN_TEMPERATURE}) or "
            "greedy (< 1e-5, with n=1)"
        )
    return None


def check_vllm_settings(run: Any) -> str | None:
    """The first refusal for a run config with ``sampling.backend=vllm`` (None: all honoured)."""
    for section in (run.sampling, run.evaluation):
        name = "sampling" if section is run.sampling else "evaluation"
        message = vllm_refusal(name, section.temperature, section.n)
        if message:
            return message
    if run.sampling.top_k_ties not in ("auto", VLLM_TOP_K_TIES):
        return (
            f"sampling.top_k_ties={run.sampling.top_k_ties!r} is invalid for "
            f"sampling.backend=vllm: expected auto or {VLLM_TOP_K_TIES} (vLLM {VLLM_RANGE} keeps "
            "exactly k tokens on ties; the hf backend can match it, vLLM cannot change it)"
        )
    return None
