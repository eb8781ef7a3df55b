"""transformers backend: batched sampling with a KV cache on CPU or GPU; SFT in ``backends.sft``.

Llama-style small models (the tiny world, tiny-random) sample through ``backends.small_sampler``
(static KV cache, per-sample random streams); other models through ``decode_batch`` below.
Every token is drawn from ``ssd.decoding.chain_logprobs`` (vLLM's order:
temperature -> top-k -> top-p), never by HF's warpers, so ``training=ideal`` (``Policy.pre``) works
here exactly as in the toy backend. Prompts are left-padded; each row stops at a stop token (EOS or
the model's ``generation_config`` end ids) or at ``max_tokens``.
Test: ``pytest tests/test_hf_backend.py``; speed: ``python scripts/gpu_check.py --dry-run``.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ssd.backends.base import Policy
from ssd.backends.small_sampler import SUPPORTED_TYPES, sample_seeds, sample_uniforms
from ssd.backends.small_sampler import decode_rows as small_decode_rows
from ssd.backends.small_sampler import supports as small_supports
from ssd.config import cache_payload
from ssd.decoding import Decoding, chain_logprobs, check_top_k_ties, sample_from_logprobs
from ssd.records import Prompt, Sample

logger = logging.getLogger(__name__)

FULL_HASH_MAX_BYTES = (
    64 << 20
)  # files above this are hashed by size + head + tail (see _file_digest)
EDGE_BYTES = 16 << 20
PKG_SCHEME = "pkg://"
TINY_RANDOM = "tiny-random"  # model.name whose model the backend builds on first use
# auto: small_sampler on CPU for the model types it supports, else decode_batch; small | generic:
# that loop.
SAMPLERS = ("auto", "small", "generic")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"model.device={device!r} is invalid: expected auto, cpu or cuda")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype | str:
    """``auto`` -> float32 on CPU (bf16 matmuls are slow there), the checkpoint's dtype on GPU."""
    if dtype == "auto":
        return torch.float32 if device.type == "cpu" else "auto"
    if dtype not in DTYPES:
        raise ValueError(f"model.dtype={dtype!r} is invalid: expected auto, {', '.join(DTYPES)}")
    return DTYPES[dtype]


def resolve_model_path(path: str) -> str:
    """``pkg://<package>/<folder>`` (a checkpoint shipped inside a package) -> a local folder;
    anything else (hub id, local folder) is returned unchanged."""
    if not path.startswith(PKG_SCHEME):
        return path
    package, _, rel = path[len(PKG_SCHEME) :].partition("/")
    folder = Path(str(importlib.resources.files(package))) / rel
    if not folder.is_dir():
        raise FileNotFoundError(f"model.path={path!r}: no folder {folder} in package {package!r}")
    return str(folder)


def _file_digest(path: Path) -> str:
    """sha256 of a file; big weight files by size + first and last 16 MiB (any retrained
    checkpoint changes those bytes, and hashing 60 GB on every run would cost minutes)."""
    h = hashlib.sha256()
    size = path.stat().st_size
    with path.open("rb") as f:
        if size <= FULL_HASH_MAX_BYTES:
            h.update(f.read())
        else:
            h.update(str(size).encode())
            h.update(f.read(EDGE_BYTES))
            f.seek(size - EDGE_BYTES)
            h.update(f.read(EDGE_BYTES))
    return h.hexdigest()


def content_hash(model_dir: str | Path) -> str:
    """One hash over a model folder's files (config, tokenizer, weights), by relative name."""
    root = Path(model_dir)
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode())
        h.update(_file_digest(path).encode())
    return h.hexdigest()


def _local_dir(path: str) -> Path | None:
    """The folder holding a model: the path itself, or the hub cache snapshot of a hub id."""
    if Path(path).is_dir():
        return Path(path)
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(path, "config.json")
    return Path(cached).parent if isinstance(cached, str) else None


def engine_identity(name: str, version: str, top_k_ties: str) -> dict[str, Any]:
    """The engine that decodes and its version: part of every cache key, so samples and scores
    of different engines (or releases, or top-k tie rules) are never mixed in the cache."""
    return {"name": name, "version": version, "torch": torch.__version__, "top_k_ties": top_k_ties}


def model_identity(backend: str, model: Any) -> dict[str, Any]:
    """Model path plus a content hash of its files (local folder or hub cache snapshot), and
    every setting that changes the rendered prompts: what the cache keys of a base model hold."""
    local = _local_dir(resolve_model_path(model.path))
    return {
        "backend": backend,
        "content_hash": content_hash(local) if local is not None else None,
        **cache_payload(model),  # ModelConfig.CACHE: path, revision, dtype, prompt rendering
    }


def render_prompt(tokenizer: Any, prompt: Prompt, model: Any) -> tuple[str, list[int]]:
    """Prompt -> (exact text, token ids), as vLLM's ``LLM.chat`` / ``LLM.generate`` would.

    With ``model.chat_template`` the tokenizer's template renders the turns (generation prompt
    added, ``enable_thinking`` passed when set) and the text is tokenised without special tokens
    (the template already has them). Without it the turn contents are joined by a blank line and
    tokenised with the tokenizer's special tokens (a BOS for Llama), like a plain ``generate``.
    ``model.system_prompt`` is prepended as a system turn when the prompt has none.
    """
    messages = list(prompt.messages)
    if model.system_prompt and not any(m["role"] == "system" for m in messages):
        messages = [{"role": "system", "content": model.system_prompt}, *messages]
    if model.chat_template:
        kwargs: dict[str, Any] = dict(model.chat_template_kwargs)
        if model.enable_thinking is not None:
            kwargs["enable_thinking"] = model.enable_thinking
        text = tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, **kwargs
        )
        return text, tokenizer(text, add_special_tokens=False)["input_ids"]
    text = "\n\n".join(m["content"] for m in messages)
    return text, tokenizer(text)["input_ids"]


def stop_token_ids(tokenizer: Any, generation_eos: int | Sequence[int] | None) -> list[int]:
    """EOS of the tokenizer plus the generation config's end ids (Qwen and Llama list several)."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    ids.update([generation_eos] if isinstance(generation_eos, int) else list(generation_eos or []))
    if not ids:
        raise ValueError("the tokenizer and generation config define no end-of-sequence token")
    return sorted(ids)


def batch_seed(seed: int, prompt_ids: Sequence[str]) -> int:
    """Seed of one batch's generator: fixed by the run seed and the batch's prompt ids."""
    digest = hashlib.sha256(json.dumps([seed, list(prompt_ids)]).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def next_token(
    logits: torch.Tensor,
    chain: Sequence[Decoding],
    gen: torch.Generator,
    top_k_ties: str = "keep",
) -> torch.Tensor:
    """The per-step draw ``generate`` uses: one token per row of last-position ``logits``."""
    return sample_from_logprobs(chain_logprobs(logits, chain, top_k_ties), gen)


@torch.inference_mode()
def decode_batch(
    model: Any,
    prompt_ids: Sequence[Sequence[int]],
    chain: Sequence[Decoding],
    *,
    max_tokens: int,
    stop_ids: Sequence[int],
    pad_id: int,
    generator: torch.Generator,
    top_k_ties: str = "keep",
) -> list[tuple[list[int], str]]:
    """Sample one continuation per row with a KV cache (left padding, per-row finished flags).

    Returns:
        Per row: the completion token ids (the stop token excluded) and ``"stop"`` or ``"length"``.
    """
    from transformers import DynamicCache

    device = next(model.parameters()).device
    rows, width = len(prompt_ids), max(len(p) for p in prompt_ids)
    input_ids = torch.full((rows, width), pad_id, dtype=torch.long)
    mask = torch.zeros((rows, width), dtype=torch.long)
    for i, ids in enumerate(prompt_ids):
        input_ids[i, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
        mask[i, width - len(ids) :] = 1
    input_ids, mask = input_ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    stops = torch.tensor(list(stop_ids), dtype=torch.long, device=device)
    cache = DynamicCache(config=model.config)
    out = torch.full((rows, max_tokens), pad_id, dtype=torch.long, device=device)
    lengths = torch.full((rows,), max_tokens, dtype=torch.long, device=device)
    finished = torch.zeros(rows, dtype=torch.bool, device=device)
    # The cache is the 4th positional argument in transformers 4.5x (past_key_values) and 5.x
    # (cache); passed positionally it is filled in place under both names.
    logits = model(input_ids, mask, positions, cache, use_cache=True, logits_to_keep=1).logits
    for step in range(max_tokens):
        # Finished rows still draw (their draws are discarded): each row's random stream then
        # does not depend on when the other rows stop.
        token = next_token(logits[:, -1, :], chain, generator, top_k_ties)
        token = torch.where(finished, torch.full_like(token, pad_id), token)
        out[:, step] = token
        hit = torch.isin(token, stops) & ~finished
        lengths = torch.where(hit, torch.full_like(lengths, step), lengths)
        finished |= hit
        if step + 1 == max_tokens or bool(finished.all()):
            break
        mask = torch.cat([mask, torch.ones((rows, 1), dtype=mask.dtype, device=device)], dim=1)
        positions = positions[:, -1:] + 1
        logits = model(token[:, None], mask, positions, cache, use_cache=True).logits
    out_cpu, lengths_cpu, finished_cpu = out.cpu(), lengths.cpu(), finished.cpu()
    return [
        (out_cpu[i, : int(lengths_cpu[i])].tolist(), "stop" if bool(finished_cpu[i]) else "length")
        for i in range(rows)
    ]


class HFBackend:
    """transformers sampling (and SFT through ``ssd.backends.sft``) for one base model.

    On CPU, models ``small_sampler`` supports (Llama-style: the tiny world, tiny-random) decode
    all rows of a call together (``sampler="auto"``); each sample draws from its own random
    stream, fixed by the seed, its prompt id and its index, so it does not depend on the batch
    composition, the order or ``batch_size``, which then only groups the ``on_batch`` callbacks.

    Other models and GPUs (``sampler="generic"``) decode ``batch_size`` sequences together; a
    batch holds whole prompts (all ``n`` samples of a prompt), at least one. Their samples
    depend on the seed and on the batch composition: the same prompts in the same order with the
    same ``n`` and ``batch_size`` give the same samples. A resumed run that skips whole finished
    batches chunks the remaining prompts the same way, so it reproduces the uninterrupted run.
    """

    def __init__(
        self, model: Any, batch_size: int = 128, sampler: str = "auto", top_k_ties: str = "auto"
    ) -> None:
        if sampler not in SAMPLERS:
            raise ValueError(
                f"sampler={sampler!r} is invalid: expected one of {', '.join(SAMPLERS)}"
            )
        if not model.path:
            raise ValueError("model.path is required for the hf backend (hub id or local folder)")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} is invalid: expected a positive count")
        self.model_cfg = model
        self.batch_size = batch_size
        self.sampler = sampler
        # "auto": this engine's own rule, keeping every token tied with the k-th logit.
        self.top_k_ties = check_top_k_ties("keep" if top_k_ties == "auto" else top_k_ties)
        self.device = resolve_device(model.device)
        if model.name == TINY_RANDOM:
            from ssd.models.tiny_random import ensure_tiny_model

            ensure_tiny_model(model.path)
        self._loaded: tuple[str, Any, Any] | None = None  # (path, model, tokenizer)

    def __getstate__(self) -> dict[str, Any]:
        # A copy sent to a stage process (isolate_stages) loads its own model, never this one's.
        return {**self.__dict__, "_loaded": None}

    # -- identity ---------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        """``model_identity`` plus the engine and the sampling loop (both change the samples)."""
        import transformers

        engine = engine_identity("transformers", transformers.__version__, self.top_k_ties)
        return {
            **model_identity("hf", self.model_cfg),
            "engine": engine,
            "sampler": self._sampler_name(),
        }

    def _sampler_name(self) -> str:
        if self.sampler != "auto":
            return self.sampler
        if self.device.type != "cpu":  # GPU batches are large: decode_batch's memory profile
            return "generic"
        local = _local_dir(resolve_model_path(self.model_cfg.path))
        config = local / "config.json" if local is not None else None
        if config is None or not config.is_file():
            return "generic"
        return (
            "small"
            if json.loads(config.read_text()).get("model_type") in SUPPORTED_TYPES
            else "generic"
        )

    # -- loading ----------------------------------------------------------------------------
    def load(self, checkpoint: str | None = None) -> tuple[Any, Any]:
        """(model, tokenizer) of the base model or a trained checkpoint folder; one kept loaded."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = checkpoint or resolve_model_path(self.model_cfg.path)
        if self._loaded is not None and self._loaded[0] == path:
            return self._loaded[1], self._loaded[2]
        self._loaded = None  # free the previous model before loading the next
        trust = self.model_cfg.trust_remote_code
        # A trained checkpoint is a local folder; only the base model has a hub revision.
        revision = None if checkpoint else self.model_cfg.revision
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust, revision=revision)
        model = AutoModelForCausalLM.from_pretrained(
            path,
            dtype=resolve_dtype(self.model_cfg.dtype, self.device),
            trust_remote_code=trust,
            revision=revision,
        )
        model.to(self.device).eval()  # type: ignore[arg-type]  # transformers' wrapped .to
        self._loaded = (path, model, tokenizer)
        logger.info("hf backend: loaded %s on %s", path, self.device)
        return model, tokenizer

    # -- sampling ---------------------------------------------------------------------------
    def generate(
        self,
        policy: Policy,
        prompts: Sequence[Prompt],
        decoding: Decoding,
        *,
        n: int,
        max_tokens: int,
        seed: int,
        on_batch: Callable[[list[Sample]], None],
    ) -> None:
        """Sample ``n`` completions per prompt with ``policy.chain(decoding)`` (see the class)."""
        if n < 1 or max_tokens < 1:
            raise ValueError(f"n={n} and max_tokens={max_tokens} must both be >= 1")
        model, tokenizer = self.load(policy.checkpoint)
        chain = policy.chain(decoding)
        chain_dicts = [d.as_dict() for d in chain]
        stop_ids = stop_token_ids(tokenizer, model.generation_config.eos_token_id)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0]
        per_batch = max(1, self.batch_size // n)
        rendered = [render_prompt(tokenizer, p, self.model_cfg) for p in prompts]
        rows = [ids for _, ids in rendered for _ in range(n)]

        def emit(first: int, results: Sequence[tuple[list[int], str]]) -> None:
            """Samples of prompts ``first, first + 1, ...`` from their rows' results."""
            samples = []
            for offset, (token_ids, finish) in enumerate(results):
                prompt_index = first + offset // n
                text, prompt_token_ids = rendered[prompt_index]
                samples.append(
                    Sample(
                        prompt_id=prompts[prompt_index].prompt_id,
                        sample_index=offset % n,
                        prompt_text=text,
                        prompt_token_ids=list(prompt_token_ids),
                        completion=tokenizer.decode(token_ids, skip_special_tokens=True),
                        token_ids=token_ids,
                        finish_reason=finish,
                        decoding=chain_dicts,
                    )
                )
            on_batch(samples)

        if self._small(model):
            # Every row in one call (chunked by memory inside); each sample draws from its own
            # stream, so the batching below only groups the callbacks.
            keys = [(p.prompt_id, j) for p in prompts for j in range(n)]
            results = small_decode_rows(
                model,
                rows,
                chain,
                sample_uniforms(sample_seeds(seed, keys), max_tokens),
                max_tokens=max_tokens,
                stop_ids=stop_ids,
                top_k_ties=self.top_k_ties,
            )
            for first in range(0, len(prompts), per_batch):
                count = min(per_batch, len(prompts) - first)
                emit(first, results[first * n : (first + count) * n])
            return
        for first in range(0, len(prompts), per_batch):
            batch = prompts[first : first + per_batch]
            gen = torch.Generator(device=self.device)
            gen.manual_seed(batch_seed(seed, [p.prompt_id for p in batch]))
            emit(
                first,
                decode_batch(
                    model,
                    rows[first * n : (first + len(batch)) * n],
                    chain,
                    max_tokens=max_tokens,
                    stop_ids=stop_ids,
                    pad_id=pad_id,
                    generator=gen,
                    top_k_ties=self.top_k_ties,
                ),
            )

    def _small(self, model: Any) -> bool:
        """Whether this model samples through ``small_sampler`` (see ``sampler`` in __init__)."""
        if self.sampler == "small" and not small_supports(model):
            raise ValueError(
                f"sampler='small' does not support model type {model.config.model_type!r}: "
                f"expected one of {', '.join(SUPPORTED_TYPES)}"
            )
        auto = self.sampler == "auto" and self.device.type == "cpu" and small_supports(model)
        return self.sampler == "small" or auto

    # -- training ---------------------------------------------------------------------------
    def train(self, samples: Sequence[Sample], training: Any, out_dir: Path) -> dict[str, Any]:
        """SFT of the base model on the samples' stored token ids (``ssd.backends.sft``)."""
        from ssd.backends.sft import train_sft

        self._loaded = None  # training loads its own copy; free the sampling one
        return train_sft(self.model_cfg, samples, training, Path(out_dir))
