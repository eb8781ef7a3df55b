"""The small-model sampler draws exactly ``ssd.decoding``'s distribution, from the model's logits,
and each sample is the same whatever batch it is decoded in.

- ``draw`` on a deterministic grid of uniforms reproduces the reference probabilities to 1/N.
- Through the whole loop on a crafted model (fixed logits at every step) the token frequencies
  match the reference within 4 standard errors, as ``tests/test_hf_backend.py`` checks
  ``decode_batch``.
- Its forward pass (static cache, left padding, GQA, q/k norms) gives the model's own logits.
- Samples are identical across batch sizes, prompt orders, subsets and memory chunking.
"""

from __future__ import annotations

import pytest
import torch
from fixtures.draws import assert_draws_follow
from test_hf_backend import CASES, STOP, VOCAB, crafted_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from ssd.backends.base import Policy
from ssd.backends.hf import HFBackend, resolve_model_path
from ssd.backends.small_sampler import (
    _Forward,
    decode_rows,
    draw,
    sample_seeds,
    sample_uniforms,
    supports,
)
from ssd.config import ModelConfig
from ssd.decoding import Decoding, chain_logprobs
from ssd.models.tiny_random import build_tiny_model
from ssd.records import Prompt

TINY = resolve_model_path("pkg://ssd/data/tinyworld/base")


@pytest.fixture(scope="module")
def qwen_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(build_tiny_model(tmp_path_factory.mktemp("qwen")))


@pytest.mark.parametrize(("name", "logits", "chain", "expected"), CASES, ids=[c[0] for c in CASES])
def test_draw_on_a_uniform_grid_gives_the_reference_probabilities(name, logits, chain, expected):
    reference = chain_logprobs(torch.tensor(logits), chain)
    grid = 20_000
    u = (torch.arange(grid, dtype=torch.float64) + 0.5) / grid
    ids = draw(reference.expand(grid, -1), u)
    freq = torch.bincount(ids, minlength=VOCAB).double() / grid
    assert torch.all((freq - reference.exp()).abs() <= 1.0 / grid + 1e-12), (name, freq)
    assert torch.all(freq[reference.exp() == 0] == 0)


def test_draw_never_picks_an_excluded_token_at_the_interval_edges():
    logprobs = torch.log(torch.tensor([[0.0, 0.5, 0.0, 0.5, 0.0]], dtype=torch.float64))
    for u in (0.0, 0.5, 1.0 - 1e-17, torch.nextafter(torch.tensor(1.0), torch.tensor(0.0)).item()):
        token = int(draw(logprobs, torch.tensor([u], dtype=torch.float64)))
        assert token in (1, 3), (u, token)


@pytest.mark.parametrize(("name", "logits", "chain", "expected"), CASES, ids=[c[0] for c in CASES])
def test_sampled_frequencies_match_reference(name, logits, chain, expected):
    model = crafted_model(logits)
    assert supports(model)
    reference = chain_logprobs(torch.tensor(logits), chain).exp()
    rows, steps = 250, 40
    keys = [("p", i) for i in range(rows)]
    results = decode_rows(
        model,
        [[1, 2, 3], [4, 5]] * (rows // 2),  # mixed lengths: left padding is exercised
        chain,
        sample_uniforms(sample_seeds(1234, keys), steps),
        max_tokens=steps,
        stop_ids=[STOP] if reference[STOP] == 0 else [],
    )
    assert_draws_follow(results, reference, steps, name)


def test_stop_token_ends_row_and_is_not_stored():
    model = crafted_model([0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 0.0])
    out = decode_rows(
        model,
        [[1, 2]],
        [Decoding(1.0, 1, 1.0)],
        sample_uniforms([0], 5),
        max_tokens=5,
        stop_ids=[3],
    )
    assert out == [([], "stop")]


@pytest.mark.parametrize("which", ["tiny", "qwen3"])
@torch.inference_mode()
def test_forward_gives_the_models_own_logits(which, qwen_dir):
    """Prefill with left padding, then 3 cached steps: each row's logits equal an uncached
    forward of that row alone (tiny world Llama; random Qwen3 with GQA and q/k norms)."""
    path = TINY if which == "tiny" else qwen_dir
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    if which == "qwen3":
        assert model.config.num_key_value_heads != model.config.num_attention_heads
    assert supports(model)
    fwd = _Forward(model)
    prompts = [[5, 6, 7, 8, 9], [10, 11], [12, 13, 14]]
    extra = [[20, 21, 22], [23, 24, 25], [26, 27, 28]]
    width, steps = 5, 3
    ids = torch.zeros((3, width), dtype=torch.long)
    valid = torch.zeros((3, width + steps), dtype=torch.bool)
    valid[:, width:] = True
    for i, p in enumerate(prompts):
        ids[i, width - len(p) :] = torch.tensor(p)
        valid[i, width - len(p) : width] = True
    positions = (valid[:, :width].long().cumsum(-1) - 1).clamp(min=0)
    bias = torch.zeros(valid.shape).masked_fill(~valid, float("-inf"))
    idx = torch.arange(width)
    allowed = (idx[None, :] <= idx[:, None])[None] & (
        valid[:, None, :width] | (idx[None, :] == idx[:, None])[None]
    )
    prefill = torch.zeros((3, 1, width, width)).masked_fill(~allowed[:, None], float("-inf"))
    cache = fwd.new_cache(3, width + steps)
    got = [fwd(ids, positions, cache, 0, prefill)]
    pos = positions[:, -1] + 1
    for s in range(steps):
        token = torch.tensor([e[s] for e in extra])
        col = width + s
        got.append(fwd(token[:, None], pos[:, None], cache, col, bias[:, None, None, : col + 1]))
        pos = pos + 1
    for i, p in enumerate(prompts):
        for s in range(steps + 1):
            want = model(torch.tensor([p + extra[i][:s]])).logits[0, -1]
            torch.testing.assert_close(got[s][i], want, atol=1e-5, rtol=1e-5)


def _tiny_backend(batch_size: int) -> HFBackend:
    cfg = ModelConfig(
        name="tiny", path="pkg://ssd/data/tinyworld/base", device="cpu", chat_template=False
    )
    return HFBackend(cfg, batch_size=batch_size)


def _samples(backend: HFBackend, prompts: list[Prompt], **kw) -> dict:
    out: list = []
    backend.generate(Policy(), prompts, Decoding(1.0, 0, 0.95), n=3, max_tokens=60, seed=11,
                     on_batch=out.extend, **kw)  # fmt: skip
    return {(s.prompt_id, s.sample_index): (s.token_ids, s.finish_reason) for s in out}


def test_samples_do_not_depend_on_batch_order_or_chunking():
    from ssd.tinyworld import tasks

    tok = AutoTokenizer.from_pretrained(TINY)
    starters = [t.starter() for t in tasks.generate_tasks("eval", 8, 0)]
    prompts = [Prompt(f"t{i}", [{"role": "user", "content": s}]) for i, s in enumerate(starters)]
    assert len({len(tok(s)["input_ids"]) for s in starters}) > 1, "lengths must differ (padding)"
    backend = _tiny_backend(batch_size=128)
    whole = _samples(backend, prompts)
    assert len(whole) == 24 and any(f == "stop" for _, f in whole.values())
    backend.batch_size = 3  # one prompt per callback
    assert _samples(backend, prompts) == whole
    backend.batch_size = 128
    reordered = _samples(backend, prompts[::-1][:5])
    assert reordered == {
        k: v for k, v in whole.items() if k[0] in {p.prompt_id for p in prompts[3:]}
    }
    # A budget of a few rows per chunk forces many chunks and early compaction in each.
    model = backend.load()[0]
    rows = [tok(s)["input_ids"] for s in starters for _ in range(3)]
    keys = [(f"t{i}", j) for i in range(8) for j in range(3)]
    chunked = decode_rows(
        model,
        rows,
        [Decoding(1.0, 0, 0.95)],
        sample_uniforms(sample_seeds(11, keys), 60),
        max_tokens=60,
        stop_ids=[tok.eos_token_id],
        cache_budget_bytes=_Forward(model).row_bytes(100) * 6,
    )
    assert dict(zip(keys, chunked, strict=True)) == whole


def test_generic_and_small_loops_agree_greedily(qwen_dir):
    """Greedy decoding has no randomness: both loops must give the same tokens."""
    cfg = ModelConfig(name="tiny-test", path=qwen_dir, device="cpu")
    prompts = [Prompt(f"p{i}", [{"role": "user", "content": "x" * (i + 1)}]) for i in range(4)]
    got = {}
    for sampler in ("small", "generic"):
        out: list = []
        HFBackend(cfg, batch_size=4, sampler=sampler).generate(
            Policy(), prompts, Decoding(0.0), n=1, max_tokens=10, seed=0, on_batch=out.extend
        )
        got[sampler] = [s.token_ids for s in out]
    assert got["small"] == got["generic"]


def test_bad_sampler_is_refused(qwen_dir):
    cfg = ModelConfig(name="tiny-test", path=qwen_dir, device="cpu")
    with pytest.raises(ValueError, match="sampler='fast' is invalid"):
        HFBackend(cfg, sampler="fast")
    assert HFBackend(cfg).identity()["sampler"] == "small"
    assert HFBackend(cfg, sampler="generic").identity()["sampler"] == "generic"
