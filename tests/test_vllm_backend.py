"""The vLLM backend's pure parts: explicit SamplingParams, decoding-chain mapping, import safety.

vLLM itself is not installed here (GPU only); a run on a GPU machine is in scripts/gpu_check.py.
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
    assert kwargs["extra_args"] == {"ssd_pre": [{"temperature": 2.0, "top_k": 10, "top_p": 1.0}]}
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
