"""Sampling throughput on the tiny world model: ``small_sampler`` vs transformers' ``generate``.

Run: ``make bench-sampler`` or ``.venv/bin/python benchmarks/bench_sampler.py [--problems 150]
[--n 10] [--max-tokens 200] [--repeats 1]``

Same model (the shipped tiny-world Llama), same prompts (the demo's held-out problems, rendered as
the evaluation renders them), same decoding (the demo's evaluation: T 1.0, top-p 0.95), same
completion cap. ``generate`` gets every row in one batch (its best case) with ``do_sample``;
``decode_batch`` is the hf backend's generic loop (128 rows per batch, as before this sampler).
Tokens are completion tokens up to and excluding the stop token. Printed per side: wall seconds,
tokens/s, tokens per CPU-second (process CPU time, the fairer number on a shared machine), and
the ratio against ``generate``. Each side's best of ``--repeats`` runs is kept.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from ssd.backends.hf import decode_batch, render_prompt, resolve_model_path
from ssd.backends.small_sampler import decode_rows, sample_seeds, sample_uniforms
from ssd.benchmarks import load_benchmark
from ssd.config import ModelConfig
from ssd.decoding import Decoding
from ssd.prompts import render_messages
from ssd.records import Prompt

MODEL = "pkg://ssd/data/tinyworld/base"


def rows_for(problems: int, n: int, tokenizer) -> list[list[int]]:
    model_cfg = ModelConfig(name="tiny", path=MODEL, device="cpu", chat_template=False)
    ids = []
    for p in load_benchmark("tinyworld", limit=problems):
        prompt = Prompt(p.problem_id, render_messages(p, "humaneval_completion"))
        ids.append(render_prompt(tokenizer, prompt, model_cfg)[1])
    return [r for r in ids for _ in range(n)]


def run_generate(model, tokenizer, rows, decoding: Decoding, max_tokens: int) -> int:
    width = max(map(len, rows))
    pad = tokenizer.pad_token_id
    ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            do_sample=True,
            temperature=decoding.temperature,
            top_k=None,
            top_p=decoding.top_p,
            max_new_tokens=max_tokens,
            pad_token_id=pad,
            eos_token_id=tokenizer.eos_token_id,
        )
    tokens = 0
    for row in out[:, width:].tolist():
        tokens += row.index(tokenizer.eos_token_id) if tokenizer.eos_token_id in row else len(row)
    return tokens


def run_decode_batch(model, tokenizer, rows, decoding: Decoding, max_tokens: int) -> int:
    tokens, gen = 0, torch.Generator().manual_seed(0)
    for start in range(0, len(rows), 128):
        out = decode_batch(
            model,
            rows[start : start + 128],
            [decoding],
            max_tokens=max_tokens,
            stop_ids=[tokenizer.eos_token_id],
            pad_id=tokenizer.pad_token_id,
            generator=gen,
        )
        tokens += sum(len(ids) for ids, _ in out)
    return tokens


def run_small(model, tokenizer, rows, decoding: Decoding, max_tokens: int) -> int:
    uniforms = sample_uniforms(sample_seeds(0, [("r", i) for i in range(len(rows))]), max_tokens)
    out = decode_rows(
        model, rows, [decoding], uniforms, max_tokens=max_tokens, stop_ids=[tokenizer.eos_token_id]
    )
    return sum(len(ids) for ids, _ in out)


def measure(fn: Callable[[], int], repeats: int) -> tuple[int, float, float]:
    """(tokens, wall s, CPU s) of the fastest of ``repeats`` runs."""
    best: tuple[int, float, float] | None = None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        tokens = fn()
        result = (tokens, time.perf_counter() - wall, time.process_time() - cpu)
        if best is None or result[1] < best[1]:
            best = result
    assert best is not None
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=150)
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--skip-generic", action="store_true", help="leave out decode_batch")
    args = parser.parse_args()

    path = resolve_model_path(MODEL)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    rows = rows_for(args.problems, args.n, tokenizer)
    decoding = Decoding(1.0, 0, 0.95)
    print(
        f"tiny world model, {args.problems} problems x {args.n} samples = {len(rows)} rows, "
        f"T {decoding.temperature} top-p {decoding.top_p}, max {args.max_tokens} tokens, "
        f"{torch.get_num_threads()} torch threads"
    )
    sides: dict[str, Callable[..., int]] = {"generate": run_generate}
    if not args.skip_generic:
        sides["decode_batch"] = run_decode_batch
    sides["small_sampler"] = run_small
    results = {}
    for name, fn in sides.items():
        results[name] = measure(
            lambda fn=fn: fn(model, tokenizer, rows, decoding, args.max_tokens), args.repeats
        )
    base_tps = results["generate"][0] / results["generate"][1]
    base_cpu = results["generate"][0] / results["generate"][2]
    print(
        f"{'':14} {'tokens':>8} {'wall s':>8} {'tok/s':>9} {'tok/CPU-s':>10} "
        f"{'x gen':>6} {'x gen CPU':>9}"
    )
    for name, (tokens, wall, cpu) in results.items():
        tps, tpc = tokens / wall, tokens / cpu
        print(
            f"{name:14} {tokens:8d} {wall:8.1f} {tps:9.0f} {tpc:10.0f} "
            f"{tps / base_tps:6.2f} {tpc / base_cpu:9.2f}"
        )


if __name__ == "__main__":
    main()
