"""transformers backend: batched sampling with a KV cache on CPU or GPU; SFT in ``backends.sft``.

Every token is drawn by ``ssd.decoding.chain_logprobs`` + ``sample_from_logprobs`` (vLLM's order:
temperature -> top-k -> top-p), never by HF's warpers, so ``training=ideal`` (``Policy.pre``) works
here exactly as in the toy backend. Prompts are left-padded; each row stops at a stop token (EOS or
the model's ``generation_config`` end ids) or at ``max_tokens``.
Test: ``pytest tests/test_hf_backend.py``; speed: ``python scripts/gpu_check.py --tiny``.
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
from ssd.config import cache_payload
from ssd.decoding import Decoding, chain_logprobs, sample_from_logprobs
from ssd.records import Prompt, Sample

logger = logging.getLogger(__name__)

FULL_HASH_MAX_BYTES = (
    64 << 20
)  # files above this are hashed by size + head + tail (see _file_digest)
EDGE_BYTES = 16 << 20
PKG_SCHEME = "pkg://"
TINY_RANDOM = "tiny-random"  # model.name whose model the backend builds on first use
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
    logits: torch.Tensor, chain: Sequence[Decoding], gen: torch.Generator
) -> torch.Tensor:
    """The per-step draw ``generate`` uses: one token per row of last-position ``logits``."""
    return sample_from_logprobs(chain_logprobs(logits, chain), gen)


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
        token = next_token(logits[:, -1, :], chain, generator)
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

    ``batch_size`` is the number of sequences decoded together; a batch holds whole prompts
    (all ``n`` samples of a prompt), at least one. Samples depend on the seed and on the batch
    composition: the same prompts in the same order with the same ``n`` and ``batch_size`` give
    the same samples. A resumed run that skips whole finished batches chunks the remaining prompts
    the same way, so it reproduces the uninterrupted run.
    """

    def __init__(self, model: Any, batch_size: int = 128) -> None:
        if not model.path:
            raise ValueError("model.path is required for the hf backend (hub id or local folder)")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} is invalid: expected a positive count")
        self.model_cfg = model
        self.batch_size = batch_size
        self.device = resolve_device(model.device)
        if model.name == TINY_RANDOM:
            from ssd.models.tiny_random import ensure_tiny_model

            ensure_tiny_model(model.path)
        self._loaded: tuple[str, Any, Any] | None = None  # (path, model, tokenizer)

    # -- identity ---------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        return model_identity("hf", self.model_cfg)

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
        for start in range(0, len(prompts), per_batch):
            batch = prompts[start : start + per_batch]
            rendered = [render_prompt(tokenizer, p, self.model_cfg) for p in batch]
            rows = [ids for _, ids in rendered for _ in range(n)]
            gen = torch.Generator(device=self.device)
            gen.manual_seed(batch_seed(seed, [p.prompt_id for p in batch]))
            results = decode_batch(
                model,
                rows,
                chain,
                max_tokens=max_tokens,
                stop_ids=stop_ids,
                pad_id=pad_id,
                generator=gen,
            )
            samples = []
            for row, (token_ids, finish) in enumerate(results):
                prompt, (text, prompt_token_ids) = batch[row // n], rendered[row // n]
                samples.append(
                    Sample(
                        prompt_id=prompt.prompt_id,
                        sample_index=row % n,
                        prompt_text=text,
                        prompt_token_ids=list(prompt_token_ids),
                        completion=tokenizer.decode(token_ids, skip_special_tokens=True),
                        token_ids=token_ids,
                        finish_reason=finish,
                        decoding=chain_dicts,
                    )
                )
            on_batch(samples)

    # -- training ---------------------------------------------------------------------------
    def train(self, samples: Sequence[Sample], training: Any, out_dir: Path) -> dict[str, Any]:
        """SFT of the base model on the samples' stored token ids (``ssd.backends.sft``)."""
        from ssd.backends.sft import train_sft

        self._loaded = None  # training loads its own copy; free the sampling one
        return train_sft(self.model_cfg, samples, training, Path(out_dir))
