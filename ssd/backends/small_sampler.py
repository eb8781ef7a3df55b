"""A generation loop for small decoder models that beats ``generate``: static KV cache, few ops.

Why: on a 0.37M-parameter model (the tiny world) almost all of ``generate``'s time is Python and
allocation overhead (mask building, cache concatenation, per-step tensors), not arithmetic. This
loop runs the model's own modules (embeddings, norms, projections, MLPs, rotary embedding) but
owns the rest:

- one preallocated key/value buffer per chunk of rows, written in place (no ``torch.cat``);
- rows sorted by prompt length and cut into chunks that fit a memory budget, so padding is small;
- finished rows are dropped from the batch (cache included) as they accumulate;
- ``torch.inference_mode`` and a handful of ops per layer and step.

Decoding is exactly ``ssd.decoding``'s (``chain_logprobs``: temperature -> top-k -> top-p, the
train/eval chain of the ideal student). The draw is an inverse-CDF lookup with a uniform taken
from the sample's *own* random stream (``sample_seeds``), so a sample depends only on the seed,
its prompt and its index, never on which other rows share its batch, the chunking or the order.

Supported: Llama-style causal LMs (``llama``, ``qwen2``, ``qwen3``: RMSNorm, rotary, full
attention, GQA). ``supports`` says so; the hf backend falls back to its generic loop otherwise.
Test: ``pytest tests/test_small_sampler.py``; speed: ``make bench-sampler``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ssd.decoding import Decoding, chain_logprobs

SUPPORTED_TYPES = ("llama", "qwen2", "qwen3")
CACHE_BUDGET_BYTES = 256 << 20  # key/value buffer per chunk of rows
COMPACT_FRACTION = 0.25  # drop finished rows once they are this share of the active ones


def supports(model: Any) -> bool:
    """True for the Llama-style full-attention models this loop implements."""
    cfg = model.config
    if getattr(cfg, "model_type", None) not in SUPPORTED_TYPES:
        return False
    if getattr(cfg, "use_sliding_window", False):
        return False
    layer_types = getattr(cfg, "layer_types", None) or []
    if any(t != "full_attention" for t in layer_types):
        return False
    inner = getattr(model, "model", None)
    return all(hasattr(inner, a) for a in ("embed_tokens", "layers", "norm", "rotary_emb"))


# -- per-sample random streams -------------------------------------------------------------------
def sample_seeds(seed: int, keys: Sequence[tuple[str, int]]) -> list[int]:
    """One 63-bit seed per sample, from the run seed and the sample's (prompt id, index)."""
    out = []
    for prompt_id, index in keys:
        digest = hashlib.sha256(json.dumps([seed, prompt_id, index]).encode()).digest()
        out.append(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))
    return out


def sample_uniforms(seeds: Sequence[int], steps: int) -> torch.Tensor:
    """``(rows, steps)`` float64 uniforms in [0, 1): row i is the stream of ``seeds[i]``."""
    out = torch.empty((len(seeds), steps), dtype=torch.float64)
    gen = torch.Generator()
    for i, s in enumerate(seeds):
        gen.manual_seed(s)
        torch.rand(steps, generator=gen, dtype=torch.float64, out=out[i])
    return out


def draw(logprobs: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draw: per row the token whose cumulative-probability interval holds ``u``.

    Token i is drawn for ``u * total`` in ``[cdf[i-1], cdf[i])``, an interval of width ``p_i``,
    so each row's token has exactly the distribution ``exp(logprobs)``; zero-probability tokens
    (``-inf``) have empty intervals and are never drawn.
    """
    cdf = torch.cumsum(torch.exp(logprobs.to(torch.float64)), dim=-1)
    total = cdf[:, -1:]
    below_total = torch.nextafter(total, torch.zeros_like(total))  # u * total < total, always
    target = torch.minimum(uniforms[:, None].to(torch.float64) * total, below_total)
    return torch.searchsorted(cdf, target, right=True).squeeze(-1)


# -- the model -----------------------------------------------------------------------------------
def _fused(*linears: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Weight and bias of one linear layer computing ``linears`` side by side."""
    weight = torch.cat([lin.weight for lin in linears], dim=0)
    biases = [lin.bias for lin in linears]
    if all(b is None for b in biases):
        return weight, None
    bias = [
        b if b is not None else weight.new_zeros(lin.out_features)
        for b, lin in zip(biases, linears, strict=True)
    ]
    return weight, torch.cat(bias)


def _plain_mlp(mlp: Any) -> bool:
    """``down(act(gate(x)) * up(x))``, the Llama / Qwen MLP (gate and up then fuse)."""
    return all(hasattr(mlp, a) for a in ("gate_proj", "up_proj", "down_proj", "act_fn"))


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class _Forward:
    """The model's forward pass over a static cache, using the model's own modules."""

    def __init__(self, model: Any) -> None:
        inner, cfg = model.model, model.config
        self.embed, self.rotary, self.norm = inner.embed_tokens, inner.rotary_emb, inner.norm
        self.lm_head = model.lm_head
        self.layers = list(inner.layers)
        first = self.layers[0].self_attn
        self.head_dim = int(first.head_dim)
        self.heads = int(cfg.num_attention_heads)
        self.kv_heads = int(getattr(cfg, "num_key_value_heads", None) or self.heads)
        self.scaling = float(first.scaling)
        self.qk_norm = hasattr(first, "q_norm")
        param = next(model.parameters())
        self.device, self.dtype = param.device, param.dtype
        # One matmul for q, k and v and one for gate and up (fewer, larger GEMMs per step).
        self.qkv = [
            _fused(ly.self_attn.q_proj, ly.self_attn.k_proj, ly.self_attn.v_proj)
            for ly in self.layers
        ]
        self.gate_up = [
            _fused(ly.mlp.gate_proj, ly.mlp.up_proj) if _plain_mlp(ly.mlp) else None
            for ly in self.layers
        ]
        self.q_size = self.heads * self.head_dim
        self.kv_size = self.kv_heads * self.head_dim
        self._rope: tuple[torch.Tensor, torch.Tensor] | None = None

    def rope_table(self, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin of positions ``0 .. length-1`` from the model's rotary embedding."""
        if self._rope is None or self._rope[0].shape[0] < length:
            dummy = torch.zeros((1, length, 1), dtype=self.dtype, device=self.device)
            positions = torch.arange(length, device=self.device)[None]
            cos, sin = self.rotary(dummy, positions)
            self._rope = (cos[0], sin[0])
        return self._rope

    def row_bytes(self, length: int) -> int:
        """Key/value buffer bytes per row of ``length`` positions."""
        per = len(self.layers) * 2 * self.kv_heads * self.head_dim * length
        return per * torch.finfo(self.dtype).bits // 8

    def new_cache(self, rows: int, length: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        shape = (rows, self.kv_heads, length, self.head_dim)
        return [
            (
                torch.empty(shape, dtype=self.dtype, device=self.device),
                torch.empty(shape, dtype=self.dtype, device=self.device),
            )
            for _ in self.layers
        ]

    def __call__(
        self,
        ids: torch.Tensor,
        positions: torch.Tensor,
        cache: list[tuple[torch.Tensor, torch.Tensor]],
        start: int,
        bias: torch.Tensor,
    ) -> torch.Tensor:
        """Last-position logits of ``ids`` (rows, q) written at cache columns ``start:start+q``.

        ``bias``: (rows, 1, q, start+q) additive attention mask (0 or -inf).
        """
        rows, q = ids.shape
        end = start + q
        h = self.embed(ids)
        cos_table, sin_table = self.rope_table(int(positions.max()) + 1)
        cos, sin = cos_table[positions][:, None], sin_table[positions][:, None]
        gqa = self.kv_heads != self.heads
        for i, (layer, (k_buf, v_buf)) in enumerate(zip(self.layers, cache, strict=True)):
            attn = layer.self_attn
            x = layer.input_layernorm(h)
            qs, ks, vs = F.linear(x, *self.qkv[i]).split(
                [self.q_size, self.kv_size, self.kv_size], dim=-1
            )
            qs = qs.view(rows, q, self.heads, self.head_dim)
            ks = ks.view(rows, q, self.kv_heads, self.head_dim)
            vs = vs.view(rows, q, self.kv_heads, self.head_dim)
            if self.qk_norm:
                qs, ks = attn.q_norm(qs), attn.k_norm(ks)
            qs, ks = qs.transpose(1, 2), ks.transpose(1, 2)
            qs = qs * cos + _rotate_half(qs) * sin
            k_buf[:, :, start:end] = ks * cos + _rotate_half(ks) * sin
            v_buf[:, :, start:end] = vs.transpose(1, 2)
            o = F.scaled_dot_product_attention(
                qs,
                k_buf[:, :, :end],
                v_buf[:, :, :end],
                attn_mask=bias,
                scale=self.scaling,
                enable_gqa=gqa,
            )
            h = h + attn.o_proj(o.transpose(1, 2).reshape(rows, q, self.heads * self.head_dim))
            x = layer.post_attention_layernorm(h)
            gate_up = self.gate_up[i]
            if gate_up is None:
                h = h + layer.mlp(x)
            else:
                gate, up = F.linear(x, *gate_up).chunk(2, dim=-1)
                h = h + layer.mlp.down_proj(layer.mlp.act_fn(gate) * up)
        return self.lm_head(self.norm(h[:, -1]))


# -- the loop ------------------------------------------------------------------------------------
def _decode_chunk(
    fwd: _Forward,
    prompt_ids: Sequence[Sequence[int]],
    chain: Sequence[Decoding],
    uniforms: torch.Tensor,
    max_tokens: int,
    stops: torch.Tensor,
    top_k_ties: str = "keep",
) -> list[tuple[list[int], str]]:
    device = fwd.device
    rows, width = len(prompt_ids), max(len(p) for p in prompt_ids)
    ids = torch.zeros((rows, width), dtype=torch.long)
    valid = torch.zeros((rows, width + max_tokens), dtype=torch.bool)
    valid[:, width:] = True
    for i, p in enumerate(prompt_ids):
        ids[i, width - len(p) :] = torch.tensor(p, dtype=torch.long)
        valid[i, width - len(p) : width] = True
    ids, valid, uniforms = ids.to(device), valid.to(device), uniforms.to(device)
    positions = (valid[:, :width].long().cumsum(-1) - 1).clamp(min=0)
    # Additive key mask over the whole buffer; padding keys are -inf. In the prefill a padding
    # query may see itself (its output is never used), so no softmax row is empty.
    key_bias = torch.zeros(valid.shape, dtype=fwd.dtype, device=device)
    key_bias.masked_fill_(~valid, float("-inf"))
    idx = torch.arange(width, device=device)
    allowed = (idx[None, :] <= idx[:, None])[None] & (
        valid[:, None, :width] | (idx[None, :] == idx[:, None])[None]
    )
    prefill_bias = torch.zeros((rows, 1, width, width), dtype=fwd.dtype, device=device)
    prefill_bias.masked_fill_(~allowed[:, None], float("-inf"))
    cache = fwd.new_cache(rows, width + max_tokens)
    logits = fwd(ids, positions, cache, 0, prefill_bias)
    del prefill_bias, allowed
    pos = positions[:, -1] + 1

    out = torch.zeros((rows, max_tokens), dtype=torch.long)
    lengths = [max_tokens] * rows
    stopped = [False] * rows
    active = torch.arange(rows)  # the chunk row of each batch row
    done = torch.zeros(rows, dtype=torch.bool)  # batch rows that stopped (kept until compacted)
    for step in range(max_tokens):
        token = draw(chain_logprobs(logits, chain, top_k_ties), uniforms[:, step])
        token_cpu = token.cpu()
        out[active, step] = token_cpu
        if step + 1 == max_tokens:
            break
        hit = torch.isin(token_cpu, stops) & ~done
        if bool(hit.any()):
            for r in active[hit].tolist():
                lengths[r], stopped[r] = step, True
            done |= hit
            n_done = int(done.sum())
            if n_done == len(active):
                break
            if n_done >= COMPACT_FRACTION * len(active):
                keep = (~done).nonzero().squeeze(-1)
                keep_dev = keep.to(device)
                cache = _keep_rows(fwd, cache, keep_dev, width + step)
                key_bias, uniforms = key_bias[keep_dev], uniforms[keep_dev]
                token, pos, active, done = token[keep_dev], pos[keep_dev], active[keep], done[keep]
        col = width + step
        logits = fwd(token[:, None], pos[:, None], cache, col, key_bias[:, None, None, : col + 1])
        pos = pos + 1
    return [
        (out[i, : lengths[i]].tolist(), "stop" if stopped[i] else "length") for i in range(rows)
    ]


def _keep_rows(
    fwd: _Forward, cache: list[tuple[torch.Tensor, torch.Tensor]], keep: torch.Tensor, filled: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A new cache holding only rows ``keep``; only the ``filled`` columns written so far move."""
    new = fwd.new_cache(len(keep), cache[0][0].shape[2])
    for (k, v), (k_new, v_new) in zip(cache, new, strict=True):
        k_new[:, :, :filled] = k[keep, :, :filled]
        v_new[:, :, :filled] = v[keep, :, :filled]
    return new


@torch.inference_mode()
def decode_rows(
    model: Any,
    prompt_ids: Sequence[Sequence[int]],
    chain: Sequence[Decoding],
    uniforms: torch.Tensor,
    *,
    max_tokens: int,
    stop_ids: Sequence[int],
    cache_budget_bytes: int = CACHE_BUDGET_BYTES,
    top_k_ties: str = "keep",
) -> list[tuple[list[int], str]]:
    """Sample one continuation per row; row i draws its tokens with ``uniforms[i]``.

    Args:
        model: a model ``supports`` accepts, in eval mode.
        prompt_ids: token ids per row (any lengths).
        chain: the decodings applied to every step's logits (``ssd.decoding.chain_logprobs``).
        uniforms: (rows, >= max_tokens) from ``sample_uniforms``.
        max_tokens: completion length cap.
        stop_ids: tokens that end a row (not included in its completion).
        cache_budget_bytes: the key/value buffer of one chunk of rows stays under this.
        top_k_ties: the top-k tie rule (``ssd.decoding.warp``).

    Returns:
        Per row: the completion token ids and ``"stop"`` or ``"length"``, as ``hf.decode_batch``.
    """
    if len(prompt_ids) != uniforms.shape[0] or uniforms.shape[1] < max_tokens:
        raise ValueError(f"uniforms {tuple(uniforms.shape)} do not cover {len(prompt_ids)} rows")
    fwd = _Forward(model)
    stops = torch.tensor(list(stop_ids), dtype=torch.long)
    order = sorted(range(len(prompt_ids)), key=lambda i: len(prompt_ids[i]))
    results: list[tuple[list[int], str]] = [([], "length")] * len(prompt_ids)
    start = 0
    while start < len(order):
        # Rows are sorted by length: the chunk's widest prompt is its last row.
        end = start + 1
        while end < len(order):
            width = len(prompt_ids[order[end]])
            if (end + 1 - start) * fwd.row_bytes(width + max_tokens) > cache_budget_bytes:
                break
            end += 1
        chunk = order[start:end]
        decoded = _decode_chunk(
            fwd,
            [prompt_ids[i] for i in chunk],
            chain,
            uniforms[chunk],
            max_tokens,
            stops,
            top_k_ties,
        )
        for i, result in zip(chunk, decoded, strict=True):
            results[i] = result
        start = end
    return results
