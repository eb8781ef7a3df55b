"""The hf backend samples exactly the reference decoding's distribution (vLLM's order).

Crafted logits come from a real Qwen3 model whose head is replaced by a zero-weight linear layer
with the crafted logits as bias, so every step of ``decode_batch`` (the loop ``generate`` runs) sees
exactly those logits; the draws of all rows and steps are then i.i.d. from the decoded distribution.
Tolerance of the frequency test: every token within 4 standard errors (+1e-9), and tokens outside
the retained set never drawn. Seeds are fixed, so the test is deterministic.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from fixtures.draws import assert_draws_follow
from transformers import AutoModelForCausalLM, Qwen3Config, Qwen3ForCausalLM

from ssd.backends.base import Policy
from ssd.backends.hf import HFBackend, batch_seed, content_hash, decode_batch, render_prompt
from ssd.config import ModelConfig, SamplingConfig
from ssd.decoding import Decoding, chain_logprobs
from ssd.models.tiny_random import build_tiny_model
from ssd.records import Prompt
from ssd.sampling import load_samples, sample

VOCAB = 8
STOP = VOCAB - 1  # outside the retained set in every case below, so rows never stop


def model_cfg(path: str, **overrides: Any) -> ModelConfig:
    return ModelConfig(**{"name": "tiny-test", "path": path, "device": "cpu", **overrides})


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny")))


def crafted_model(logits: list[float]) -> Qwen3ForCausalLM:
    config = Qwen3Config(
        vocab_size=VOCAB,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=8,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config)
    head = torch.nn.Linear(16, VOCAB, bias=True)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(torch.tensor(logits))
    model.lm_head = head
    return model.eval()


def log_probs(probs: list[float]) -> list[float]:
    return [math.log(p) for p in probs]


# (name, logits, chain, expected probabilities computed by hand from vLLM's rules)
CASES = [
    # top-k 2 with a three-way tie at the top: vLLM keeps every token tying the k-th.
    ("ties", [2.0, 2.0, 2.0, 1.0, 0.0, -1.0, -1.0, -5.0], [Decoding(1.0, 2, 1.0)], [1 / 3] * 3),
    # top-k off, top-p reached exactly by the first two tokens (0.5 + 0.3 = 0.8).
    (
        "top_p_exact",
        log_probs([0.5, 0.3, 0.1, 0.05, 0.03, 0.01, 0.005, 0.005]),
        [Decoding(1.0, 0, 0.8)],
        [0.625, 0.375],
    ),
    # temperature 2 (top-k and top-p off): p^(1/2) renormalised over the whole vocabulary.
    (
        "temperature",
        log_probs([0.4, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05, 1e-30]),
        [Decoding(2.0, 0, 1.0)],
        None,
    ),
    # training=ideal: the SSD target (T 0.5, top-p 0.9) decoded at T 1.5 with top-k 3.
    (
        "ideal_chain",
        log_probs([0.3, 0.25, 0.2, 0.1, 0.08, 0.04, 0.02, 0.01]),
        [Decoding(0.5, 0, 0.9), Decoding(1.5, 3, 1.0)],
        None,
    ),
]


@pytest.mark.parametrize(("name", "logits", "chain", "expected"), CASES, ids=[c[0] for c in CASES])
def test_sampled_frequencies_match_reference(name, logits, chain, expected) -> None:
    model = crafted_model(logits)
    crafted = torch.tensor(logits, dtype=torch.float32)
    with torch.no_grad():
        seen = model(torch.tensor([[1, 2, 3]])).logits[0, -1]
    assert torch.equal(seen, crafted), "the crafted head must produce exactly the crafted logits"
    reference = chain_logprobs(crafted, chain).exp()
    if expected is not None:  # the reference itself follows vLLM's rules
        want = torch.zeros(VOCAB, dtype=torch.float64)
        want[: len(expected)] = torch.tensor(expected, dtype=torch.float64)
        assert torch.allclose(reference, want, atol=1e-9)
    rows, steps = 250, 40
    gen = torch.Generator().manual_seed(1234)
    results = decode_batch(
        model,
        [[1, 2, 3], [4, 5]] * (rows // 2),  # mixed lengths: left padding is exercised
        chain,
        max_tokens=steps,
        stop_ids=[STOP] if reference[STOP] == 0 else [],
        pad_id=0,
        generator=gen,
    )
    assert_draws_follow(results, reference, steps, name)


def test_stop_token_ends_row_and_is_not_stored() -> None:
    # Token 3 is the only survivor of top-k 1: every row stops at the first step.
    model = crafted_model([0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 0.0])
    results = decode_batch(
        model,
        [[1, 2]],
        [Decoding(1.0, 1, 1.0)],
        max_tokens=5,
        stop_ids=[3],
        pad_id=0,
        generator=torch.Generator().manual_seed(0),
    )
    assert results == [([], "stop")]


def test_greedy_generate_matches_uncached_forward(tiny_dir: str) -> None:
    """KV cache + left padding give the same tokens as a full forward pass without cache."""
    backend = HFBackend(model_cfg(tiny_dir), batch_size=8)
    prompts = [
        Prompt("a", [{"role": "user", "content": "Write a Python function alpha."}]),
        Prompt("b", [{"role": "user", "content": "hi"}]),
    ]
    samples = []
    backend.generate(
        Policy(), prompts, Decoding(0.0), n=1, max_tokens=6, seed=0, on_batch=samples.extend
    )
    model = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32).eval()
    for s in samples:
        ids = list(s.prompt_token_ids)
        for _ in range(6):
            with torch.no_grad():
                ids.append(int(model(torch.tensor([ids])).logits[0, -1].argmax()))
        want = ids[len(s.prompt_token_ids) :]
        assert s.token_ids == want[: len(s.token_ids)]
        assert s.finish_reason == ("length" if len(s.token_ids) == 6 else "stop")


def test_generate_records_and_determinism(tiny_dir: str) -> None:
    backend = HFBackend(model_cfg(tiny_dir), batch_size=6)
    prompts = [Prompt(f"p{i}", [{"role": "user", "content": f"task {i}"}]) for i in range(5)]

    def run(seed: int) -> list:
        batches: list[list] = []
        backend.generate(
            Policy(), prompts, Decoding(1.2, 20, 0.9), n=3, max_tokens=12, seed=seed,
            on_batch=batches.append,
        )  # fmt: skip
        return batches

    batches = run(7)
    # batch_size 6 and n 3: two whole prompts per batch, all n samples of a prompt together.
    assert [sorted({s.prompt_id for s in b}) for b in batches] == [
        ["p0", "p1"],
        ["p2", "p3"],
        ["p4"],
    ]
    samples = [s for b in batches for s in b]
    assert [(s.prompt_id, s.sample_index) for s in samples] == [
        (f"p{i}", j) for i in range(5) for j in range(3)
    ]
    tok = backend.load()[1]
    for s in samples:
        assert tok.decode(s.prompt_token_ids) == s.prompt_text
        assert s.prompt_text.endswith("<|im_start|>assistant\n")
        assert s.completion == tok.decode(s.token_ids, skip_special_tokens=True)
        assert s.decoding == [{"temperature": 1.2, "top_k": 20, "top_p": 0.9}]
        assert len(s.token_ids) <= 12 and s.finish_reason in ("stop", "length")
    again = [s for b in run(7) for s in b]
    assert [s.token_ids for s in again] == [s.token_ids for s in samples]
    other = [s for b in run(8) for s in b]
    assert [s.token_ids for s in other] != [s.token_ids for s in samples]


def test_render_prompt_plain_and_system(tiny_dir: str) -> None:
    backend = HFBackend(model_cfg(tiny_dir))
    tok = backend.load()[1]
    prompt = Prompt("x", [{"role": "user", "content": "solve it"}])
    text, ids = render_prompt(tok, prompt, model_cfg(tiny_dir, chat_template=False))
    assert text == "solve it" and tok.decode(ids) == text
    text, _ = render_prompt(tok, prompt, model_cfg(tiny_dir, system_prompt="Use Python."))
    assert text.startswith("<|im_start|>system\nUse Python.<|im_end|>\n<|im_start|>user\nsolve it")


def test_identity_hash_changes_with_weights(tmp_path, tiny_dir: str) -> None:
    other = build_tiny_model(tmp_path / "other", seed=1)
    ident = HFBackend(model_cfg(tiny_dir)).identity()
    assert ident["content_hash"] == content_hash(tiny_dir)
    assert ident["content_hash"] != content_hash(other)
    assert batch_seed(0, ["a", "b"]) != batch_seed(0, ["a", "c"])


def test_bad_settings_fail_before_compute(tiny_dir: str) -> None:
    with pytest.raises(ValueError, match="model.path"):
        HFBackend(model_cfg(""))
    with pytest.raises(ValueError, match="model.device"):
        HFBackend(model_cfg(tiny_dir, device="tpu"))


def test_resumed_sampling_reproduces_the_uninterrupted_run(tmp_path, tiny_dir: str) -> None:
    """Stopped after its first shard and restarted, a run gives the uninterrupted run's samples."""
    backend = HFBackend(model_cfg(tiny_dir), batch_size=8)
    prompts = [Prompt(f"p{i}", [{"role": "user", "content": f"task {i}"}]) for i in range(12)]
    sampling = SamplingConfig(backend="hf", temperature=1.0, n=2, max_tokens=8, batch_size=4)
    sample(backend, prompts[:4], sampling, tmp_path / "resumed")  # the first shard, then "killed"
    counts = sample(backend, prompts, sampling, tmp_path / "resumed")
    sample(backend, prompts, sampling, tmp_path / "whole")
    assert counts["resumed_prompts"] == 4
    resumed, whole = load_samples(tmp_path / "resumed"), load_samples(tmp_path / "whole")
    key = lambda s: (s.prompt_id, s.sample_index)  # noqa: E731
    assert sorted(map(key, resumed)) == sorted(map(key, whole)) and len(whole) == 24
    assert {key(s): s.token_ids for s in resumed} == {key(s): s.token_ids for s in whole}


def test_pkg_paths_resolve_to_shipped_folders() -> None:
    from ssd.backends.hf import resolve_model_path

    templates = resolve_model_path("pkg://ssd/templates")
    assert Path(templates).is_dir() and templates.endswith("templates")
    assert resolve_model_path("Qwen/Qwen3-4B-Instruct-2507") == "Qwen/Qwen3-4B-Instruct-2507"
    with pytest.raises(FileNotFoundError, match="model.path"):
        resolve_model_path("pkg://ssd/no/such/model")
