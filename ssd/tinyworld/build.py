"""Build the tiny world's base model: corpus -> tokenizer -> pretrain a tiny Llama -> save.

    python -m ssd.tinyworld.build --out ssd/data/tinyworld/base --seed 0 [--steps 3000]

Writes HF format (config.json, model.safetensors, tokenizer files, generation_config.json) and
``provenance.json`` (command, seed, sha256 of the weights, corpus stats, training time). Same
seed and settings give the same corpus and initialisation (training on CPU is deterministic for
a fixed thread count). Test: ``pytest tests/test_tinyworld.py -m integration``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import sys
import time
from pathlib import Path

import torch
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

from ssd.tinyworld.corpus import Corpus, CorpusConfig, build_corpus

log = logging.getLogger(__name__)


def model_config(
    vocab_size: int, pad_id: int, eos_id: int, *, hidden: int = 128, layers: int = 3
) -> LlamaConfig:
    """A real Llama architecture, well under 5M parameters."""
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=3 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        pad_token_id=pad_id,
        eos_token_id=eos_id,
        bos_token_id=None,
    )


def _batch(corpus: Corpus, idx: list[int], pad_id: int) -> tuple[torch.Tensor, ...]:
    seqs = [corpus.prompt_ids[i] + corpus.completion_ids[i] for i in idx]
    width = max(map(len, seqs))
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    labels = torch.full((len(seqs), width), -100, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, : len(s)] = torch.tensor(s)
        labels[r, : len(s)] = torch.tensor(s)
        mask[r, : len(s)] = 1
    return ids, labels, mask


def pretrain(
    corpus: Corpus,
    *,
    steps: int,
    seed: int,
    batch_size: int = 64,
    lr: float = 3e-3,
    hidden: int = 128,
    layers: int = 3,
    init: Path | None = None,
) -> tuple[LlamaForCausalLM, dict[str, float]]:
    """Next-token training on whole sequences (prompt and completion), AdamW, cosine LR.

    ``init``: continue from a checkpoint written by this command (same tokenizer) instead of a
    fresh initialisation.
    """
    tok = corpus.tokenizer
    torch.manual_seed(seed)
    if init is not None:
        model = LlamaForCausalLM.from_pretrained(init, dtype=torch.float32)
    else:
        cfg = model_config(
            len(tok), tok.pad_token_id, tok.eos_token_id, hidden=hidden, layers=layers
        )
        model = LlamaForCausalLM(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.01)
    warm = max(1, steps // 20)

    def schedule(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    gen = torch.Generator().manual_seed(seed)
    n = len(corpus.prompt_ids)
    model.train()
    t0 = time.perf_counter()
    loss_ema = float("nan")
    for step in range(steps):
        idx = torch.randint(n, (batch_size,), generator=gen).tolist()
        ids, labels, mask = _batch(corpus, idx, tok.pad_token_id)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        loss_ema = loss.item() if step == 0 else 0.98 * loss_ema + 0.02 * loss.item()
        if step % 100 == 0 or step == steps - 1:
            log.info("step %d loss %.4f (%.0f s)", step, loss_ema, time.perf_counter() - t0)
    model.eval()
    return model, {"final_loss_ema": loss_ema, "train_seconds": time.perf_counter() - t0}


def save(model: LlamaForCausalLM, corpus: Corpus, out: Path, provenance: dict) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    tok = corpus.tokenizer
    model.generation_config = GenerationConfig(
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, do_sample=True
    )
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    weights = (out / "model.safetensors").read_bytes()
    provenance = {
        **provenance,
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        "n_parameters": sum(p.numel() for p in model.parameters()),
    }
    (out / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    return provenance


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--examples", type=int, default=40_000)
    parser.add_argument("--noise", type=float, default=CorpusConfig.noise)
    parser.add_argument("--p-one", type=float, default=CorpusConfig.p_one)
    parser.add_argument("--p-loop", type=float, default=CorpusConfig.p_loop)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--init",
        type=Path,
        default=None,
        help="continue training this checkpoint (its tokenizer is kept)",
    )
    args = parser.parse_args(argv)
    if args.steps < 1:
        raise SystemExit(f"--steps must be >= 1, got {args.steps}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    ccfg = CorpusConfig(
        n_examples=args.examples,
        noise=args.noise,
        p_one=args.p_one,
        p_loop=args.p_loop,
        seed=args.seed,
    )
    tokenizer = None
    parent = None
    if args.init is not None:
        from transformers import PreTrainedTokenizerFast

        tokenizer = PreTrainedTokenizerFast.from_pretrained(args.init)
        parent = json.loads((args.init / "provenance.json").read_text())
    corpus = build_corpus(ccfg, tokenizer)
    model, metrics = pretrain(
        corpus,
        steps=args.steps,
        seed=args.seed,
        batch_size=args.batch_size,
        lr=args.lr,
        hidden=args.hidden,
        layers=args.layers,
        init=args.init,
    )
    argv_used = sys.argv[1:] if argv is None else argv
    provenance = {
        "command": "python -m ssd.tinyworld.build " + " ".join(argv_used),
        "seed": args.seed,
        "corpus": {**vars(ccfg), **corpus.stats},
        "training": {
            "steps": args.steps,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "threads": args.threads,
            **metrics,
        },
        "torch": torch.__version__,
        "parent": parent,  # the checkpoint this run continued from (--init), with its provenance
    }
    return save(model, corpus, args.out, provenance)


if __name__ == "__main__":
    main()
