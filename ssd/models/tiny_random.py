"""Build a random-weight causal LM of a real architecture (Qwen3) with a locally trained tokenizer.

Nothing is downloaded: the byte-level BPE tokenizer is trained in-process on a small corpus (one
generated here, or the caller's), a ChatML chat template is set, and model plus tokenizer are saved
with ``save_pretrained``, so ``transformers`` and vLLM load the folder like any hub checkpoint.
Tests use the default tiny size; ``scripts/gpu_check.py`` asks for a realistic one.
Run: ``python -m ssd.models.tiny_random OUT_DIR``; test: ``pytest tests/test_hf_backend.py``.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

logger = logging.getLogger(__name__)

PAD = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"  # end of turn = EOS, as in Qwen3 instruct models
SPECIAL_TOKENS = [PAD, IM_START, IM_END]

# ChatML, as Qwen3 renders it; `enable_thinking` is accepted (and ignored) like non-thinking Qwen3.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass(frozen=True)
class TinySpec:
    """Model size. The default is a ~0.1M-parameter model that samples fast on one CPU core."""

    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 16
    intermediate_size: int = 128
    max_position_embeddings: int = 2048
    vocab_size: int = 512  # BPE target; the model's vocab is the trained tokenizer's size
    model_vocab_size: int | None = None  # pad the embedding to this (realistic lm-head cost)
    tie_word_embeddings: bool = True


def default_corpus() -> list[str]:
    """A small English + Python corpus, generated here so no data file is needed."""
    lines = []
    words = ["alpha", "beta", "gamma", "delta", "value", "result", "count", "total", "items"]
    for i, name in enumerate(words):
        lines.append(f"def {name}(x, y):\n    return x + y * {i}\n")
        lines.append(f"for i in range({i + 1}):\n    print({name}[i])\n")
        lines.append(f"Write a Python function {name} that returns the sum of a list of numbers.")
        lines.append(
            f"```python\n{name} = [int(t) for t in input().split()]\nprint(sum({name}))\n```"
        )
    lines.append("The quick brown fox jumps over the lazy dog. 0123456789 ()[]{}<>=+-*/%:;,.!?\"'#")
    return lines


def train_tokenizer(corpus: Iterable[str], vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer (any text encodes; no unknown token) with ChatML specials.

    Args:
        corpus: training texts.
        vocab_size: target vocabulary size including the 256 byte symbols and special tokens.

    Returns:
        A fast tokenizer: ``eos_token=<|im_end|>``, ``pad_token=<|endoftext|>``, a chat template.
    """
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(corpus), trainer=trainer)
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=IM_END, pad_token=PAD, bos_token=None, unk_token=None
    )
    hf_tok.chat_template = CHAT_TEMPLATE
    return hf_tok


def build_tiny_model(
    out_dir: str | Path,
    spec: TinySpec = TinySpec(),
    corpus: Iterable[str] | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Path:
    """Write a random-weight Qwen3 model and its locally trained tokenizer into ``out_dir``.

    Args:
        out_dir: target folder (created).
        spec: model size.
        corpus: tokenizer training texts; ``default_corpus()`` when None.
        seed: weight initialisation seed (same seed, same weights).
        dtype: dtype of the saved weights.

    Returns:
        ``out_dir`` as a ``Path``; load it with ``AutoModelForCausalLM.from_pretrained``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(corpus if corpus is not None else default_corpus(), spec.vocab_size)
    vocab = max(len(tokenizer), spec.model_vocab_size or 0)
    config = Qwen3Config(
        vocab_size=vocab,
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        head_dim=spec.head_dim,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=spec.tie_word_embeddings,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config).to(dtype)  # type: ignore[arg-type]  # wrapped .to
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info(
        "tiny model: %d parameters, vocab %d, spec %s -> %s", n_params, vocab, asdict(spec), out
    )
    return out


def ensure_tiny_model(path: str | Path, spec: TinySpec = TinySpec(), seed: int = 0) -> Path:
    """Build the model at ``path`` unless it is there (``model=tiny-random`` builds on first use).

    Built in a temporary sibling folder and renamed, so concurrent sweep trials never see a
    half-written model; the build is deterministic, so whichever trial wins writes the same files.
    """
    target = Path(path)
    if (target / "config.json").is_file():
        return target
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    build_tiny_model(tmp, spec, seed=seed)
    try:
        os.replace(tmp, target)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out_dir")
    parser.add_argument("--hidden-size", type=int, default=TinySpec.hidden_size)
    parser.add_argument("--layers", type=int, default=TinySpec.num_hidden_layers)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    spec = TinySpec(hidden_size=args.hidden_size, num_hidden_layers=args.layers)
    build_tiny_model(args.out_dir, spec)


if __name__ == "__main__":
    main()
