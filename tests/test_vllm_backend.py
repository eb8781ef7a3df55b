"""The vLLM backend's pure parts: explicit SamplingParams, decoding-chain mapping (vLLM's
temperature range included), the ideal student's processor math, import safety.

vLLM itself is not installed in CI (GPU only): ``make check-vllm`` runs tests/test_vllm_real.py
against the real package, and scripts/gpu_check.py runs it on a GPU.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import torch

from ssd.backends.base import Policy
from ssd.backends.vllm import (
    VLLMBackend,
    plan_decoding,
    sampling_params_kwargs,
    strip_stop_token,
)
from ssd.backends.vllm_limits import MAX_TEMPERATURE, MIN_TEMPERATURE, VLLM_TOP_K_TIES
from ssd.backends.vllm_processor import apply_chains, request_chain
from ssd.config import ModelConfig
from ssd.decoding import Decoding, chain_logprobs, warp


def model_cfg(**overrides: Any) -> ModelConfig:
    values: dict[str, Any] = dict(
        name="qwen3-4b-instruct",
        path="Qwen/Qwen3-4B-Instruct-2507",
        dtype="bfloat16",
        tensor_parallel_size=2,
        gpu_memory_utilization=0.85,
        max_model_len=32768,
        device="cuda",
    )
    return ModelConfig(**{**values, **overrides})


@pytest.mark.integration  # a fresh interpreter: ~3 s
def test_importing_the_package_never_imports_vllm() -> None:
    code = "import ssd.backends, ssd.backends.vllm, sys; assert 'vllm' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_sampling_params_are_explicit() -> None:
    kwargs = sampling_params_kwargs(
        Decoding(1.6, 20, 0.8), n=4, max_tokens=65536, seed=7, stop_ids=[151645]
    )
    assert kwargs["temperature"] == 1.6 and kwargs["top_k"] == 20 and kwargs["top_p"] == 0.8
    assert kwargs["n"] == 4 and kwargs["max_tokens"] == 65536 and kwargs["seed"] == 7
    assert kwargs["min_p"] == 0.0 and kwargs["repetition_penalty"] == 1.0
    assert kwargs["presence_penalty"] == 0.0 and kwargs["frequency_penalty"] == 0.0
    assert kwargs["stop_token_ids"] == [151645]
    assert "extra_args" not in kwargs
    assert sampling_params_kwargs(Decoding(1.0, 0, 1.0), n=1, max_tokens=8, seed=0)["top_k"] == -1


def test_llm_ignores_the_checkpoint_generation_config() -> None:
    kwargs = VLLMBackend(model_cfg()).llm_kwargs("/ckpt")
    assert kwargs["generation_config"] == "vllm"
    assert kwargs["tensor_parallel_size"] == 2 and kwargs["model"] == "/ckpt"


def test_untruncated_pre_composes_exactly() -> None:
    """T_train without truncation then (T_eval, rho_eval) == one decoding at T_train * T_eval."""
    train, evaluation = Decoding(1.6, 0, 1.0), Decoding(0.9, 20, 0.8)
    plan = plan_decoding(Policy(pre=(train,)).chain(evaluation))
    assert plan.pre == () and plan.decoding == Decoding(1.6 * 0.9, 20, 0.8)
    logits = torch.randn(64, 100, generator=torch.Generator().manual_seed(0)) * 3
    want = chain_logprobs(logits, [train, evaluation]).exp()
    got = warp(logits, plan.decoding).exp()
    assert torch.allclose(got, want, atol=1e-9)


def test_truncated_pre_goes_to_the_logits_processor() -> None:
    train, evaluation = Decoding(2.0, 10, 1.0), Decoding(1.1, 0, 1.0)
    plan = plan_decoding([train, evaluation])
    assert plan.pre == (train,) and plan.decoding == evaluation
    kwargs = sampling_params_kwargs(plan.decoding, n=1, max_tokens=8, seed=0, pre=plan.pre)
    assert kwargs["extra_args"] == {
        "ssd_pre": [{"temperature": 2.0, "top_k": 10, "top_p": 1.0}],
        "ssd_top_k_ties": VLLM_TOP_K_TIES,
    }
    assert plan_decoding([Decoding(0.0), evaluation]).decoding.greedy
    assert plan_decoding([evaluation]).decoding == evaluation


def test_strip_stop_token() -> None:
    assert strip_stop_token([5, 6, 2], "stop", {2}) == [5, 6]
    assert strip_stop_token([5, 6, 2], "length", {2}) == [5, 6, 2]
    assert strip_stop_token([5, 6], "stop", {2}) == [5, 6]  # stopped by a stop string


def test_missing_vllm_says_how_to_install() -> None:
    if _has_vllm():
        pytest.skip("vLLM is installed here")
    backend = VLLMBackend(model_cfg())
    with pytest.raises(ImportError, match=r"pip install -e '\.\[vllm\]'"):
        backend.generate(
            Policy(), [], Decoding(1.0), n=1, max_tokens=4, seed=0, on_batch=lambda s: None
        )


def _has_vllm() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


def _vllm_decodes(logits: torch.Tensor, chain: list[Decoding]) -> torch.Tensor:
    """What vLLM computes for a plan: the processor's chain, then its own decoding (exact ties)."""
    plan = plan_decoding(chain)
    assert plan.decoding.greedy or MIN_TEMPERATURE <= plan.decoding.temperature <= MAX_TEMPERATURE
    target = apply_chains(logits.clone(), [(r, (plan.pre, "exact")) for r in range(len(logits))])
    if not plan.pre:
        target = logits
    return warp(target, plan.decoding, "exact").exp()


@pytest.mark.parametrize(
    "chain",
    [
        [Decoding(2.0, 0, 1.0), Decoding(1.5, 20, 0.8)],  # paper_grid corner: product 3.0
        [Decoding(3.0, 0, 1.0)],  # sweeps/teff: a single temperature above 2
        [Decoding(2.5, 10, 1.0), Decoding(2.2, 0, 0.9)],  # truncating pre, T_eval above 2
        [Decoding(0.1, 0, 1.0), Decoding(0.05, 5, 1.0)],  # product 0.005: vLLM would raise it
    ],
)
def test_temperatures_vllm_refuses_go_through_the_processor(chain: list[Decoding]) -> None:
    plan = plan_decoding(chain)
    assert MIN_TEMPERATURE <= plan.decoding.temperature <= MAX_TEMPERATURE
    assert plan.pre  # the processor tempers
    logits = torch.randn(16, 200, generator=torch.Generator().manual_seed(1)) * 4
    want = chain_logprobs(logits, chain, "exact").exp()
    assert torch.allclose(_vllm_decodes(logits, chain), want, atol=1e-6)


def test_temperatures_inside_vllms_range_stay_in_sampling_params() -> None:
    assert plan_decoding([Decoding(2.0, 20, 0.8)]).pre == ()
    assert plan_decoding([Decoding(0.01)]).pre == ()
    assert plan_decoding([Decoding(1.6), Decoding(1.25)]).decoding.temperature == pytest.approx(2.0)


def test_processor_rows_and_requests() -> None:
    """apply_chains replaces only the rows of requests that carry a chain, grouped by chain."""
    logits = torch.randn(5, 50, generator=torch.Generator().manual_seed(2), dtype=torch.float32)
    a = request_chain({"ssd_pre": [{"temperature": 1.5, "top_k": 4, "top_p": 1.0}]})
    b = request_chain({"ssd_pre": [{"temperature": 0.7, "top_k": 0, "top_p": 0.9}]})
    assert a is not None and b is not None and a[1] == VLLM_TOP_K_TIES
    out = apply_chains(logits.clone(), [(0, a), (3, a), (1, b)])
    assert out.dtype == torch.float32
    for row, chain in ((0, a), (3, a), (1, b)):
        assert torch.allclose(out[row].double(), chain_logprobs(logits[row], chain[0], "exact"))
    assert torch.equal(out[2], logits[2]) and torch.equal(out[4], logits[4])
    assert int(torch.isfinite(out[0]).sum()) == 4
    assert request_chain(None) is None and request_chain({"other": 1}) is None
    with pytest.raises(ValueError, match="ssd_pre"):
        request_chain({"ssd_pre": "T=2"})
    with pytest.raises(ValueError, match="top_p"):
        request_chain({"ssd_pre": [{"temperature": 1.0, "top_k": 0, "top_p": 2.0}]})


def test_hf_sampler_can_follow_vllms_tie_rule() -> None:
    """Three tokens tie for top-2: "keep" draws all three, vLLM's "exact" only the lower two."""
    from ssd.backends.hf import next_token

    logits = torch.tensor([[0.0, 2.0, 2.0, 2.0]]).repeat(3000, 1)
    chain = [Decoding(1.0, 2, 1.0)]
    gen = torch.Generator().manual_seed(0)
    assert set(next_token(logits, chain, gen, "keep").tolist()) == {1, 2, 3}
    assert set(next_token(logits, chain, gen, VLLM_TOP_K_TIES).tolist()) == {1, 2}
