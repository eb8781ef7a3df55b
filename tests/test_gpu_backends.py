"""GPU tier (``pytest -m gpu`` on a CUDA machine): hf on CUDA, and vLLM against the reference.

The vLLM check samples first tokens of a random tiny Qwen3 model with vLLM and compares their
frequencies with ``ssd.decoding`` applied to the same model's logits computed by transformers
(float32 both): the paper's decoding order, end to end, within 4 standard errors + 0.01 (the two
engines' float32 logits differ slightly).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ssd.backends.base import Policy
from ssd.backends.hf import HFBackend
from ssd.config import ModelConfig
from ssd.decoding import Decoding, chain_logprobs
from ssd.models.tiny_random import build_tiny_model
from ssd.records import Prompt, Sample

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]

PROMPTS = [Prompt(f"g{i}", [{"role": "user", "content": f"Write function {i}."}]) for i in range(8)]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("gpu-tiny"))


def run(backend, policy: Policy, decoding: Decoding, n: int, seed: int) -> list[Sample]:
    out: list[Sample] = []
    backend.generate(policy, PROMPTS, decoding, n=n, max_tokens=16, seed=seed, on_batch=out.extend)
    return out


def test_hf_on_cuda_is_seeded_and_greedy_is_deterministic(tiny_dir: Path) -> None:
    cfg = ModelConfig(name="gpu-tiny", path=str(tiny_dir), dtype="float32", device="cuda")
    backend = HFBackend(cfg, batch_size=16)
    a = run(backend, Policy(), Decoding(1.0, 20, 0.95), n=3, seed=1)
    b = run(backend, Policy(), Decoding(1.0, 20, 0.95), n=3, seed=1)
    assert len(a) == 24 and [s.token_ids for s in a] == [s.token_ids for s in b]
    g1 = run(backend, Policy(), Decoding(0.0), n=2, seed=1)
    g2 = run(backend, Policy(), Decoding(0.0), n=2, seed=2)
    assert [s.token_ids for s in g1] == [s.token_ids for s in g2]


@pytest.mark.parametrize(
    "chain",
    [[Decoding(1.5, 20, 0.8)], [Decoding(0.7, 0, 0.9), Decoding(1.2, 10, 1.0)]],
    ids=["truncated", "ideal_chain"],
)
def test_vllm_first_tokens_match_the_reference(tiny_dir: Path, chain: list[Decoding]) -> None:
    pytest.importorskip("vllm")
    from transformers import AutoModelForCausalLM

    from ssd.backends.hf import render_prompt
    from ssd.backends.vllm import VLLMBackend

    cfg = ModelConfig(
        name="gpu-tiny",
        path=str(tiny_dir),
        dtype="float32",
        device="cuda",
        max_model_len=512,
        gpu_memory_utilization=0.3,
    )
    backend = VLLMBackend(cfg)
    policy = Policy(pre=tuple(chain[:-1]))
    draws = 4000
    prompt = PROMPTS[:1]
    samples: list[Sample] = []
    backend.generate(
        policy, prompt, chain[-1], n=draws, max_tokens=1, seed=0, on_batch=samples.extend
    )
    model = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32).eval()
    tokenizer = backend.load(None, with_processor=False).get_tokenizer()
    _, ids = render_prompt(tokenizer, prompt[0], cfg)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, -1]
    reference = chain_logprobs(logits, chain).exp()
    first = torch.tensor(
        [s.token_ids[0] if s.token_ids else tokenizer.eos_token_id for s in samples]
    )
    freq = torch.bincount(first, minlength=reference.numel()).double() / draws
    sigma = (reference * (1 - reference) / draws).sqrt()
    assert torch.all((freq - reference).abs() <= 4 * sigma + 0.01)
    assert torch.all(freq[reference == 0] == 0)
