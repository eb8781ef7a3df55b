"""Design experiments on the tiny world: base vs ideal student vs trained SSD over T_eval.

    python scripts/tinyworld_lab.py --model ssd/data/tinyworld/base --problems 150 --n 10 \
        --t-evals 0.6,0.8,1.0,1.2 --ideal 1.0:0:0.9 --sft 1.0:0:0.9 --out /tmp/tw/lab.json

A policy spec ``T:k:p`` is T_train, top-k, top-p of the SSD target. Every program goes through
the sandboxed executor. Prints one line per (policy, T_eval) and a bootstrap over problems of
best SSD minus best base (the best T_eval re-selected inside each resample).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from ssd.backends.base import Policy
from ssd.backends.hf import HFBackend
from ssd.config import ModelConfig, TrainingConfig
from ssd.decoding import Decoding
from ssd.evaluation.evaluate import grade_samples
from ssd.evaluation.execute import Executor
from ssd.tinyworld.benchmark import load_problems, load_prompts

log = logging.getLogger("lab")


def parse_rho(spec: str) -> Decoding:
    t, k, p = spec.split(":")
    return Decoding(float(t), int(k), float(p))


def sample(backend, policy, prompts, decoding, n, seed, max_tokens=200):
    out = []
    backend.generate(
        policy, prompts, decoding, n=n, max_tokens=max_tokens, seed=seed, on_batch=out.extend
    )
    return out


def evaluate(backend, policy, problems, t_evals, rho, n, executor, seed=1234):
    """pass@1 per T_eval and the per-problem correct counts (for the bootstrap)."""
    from ssd.records import Prompt

    prompts = [
        Prompt(p.problem_id, [{"role": "user", "content": p.starter_code}]) for p in problems
    ]
    res = {}
    for t in t_evals:
        t0 = time.perf_counter()
        samples = sample(backend, policy, prompts, Decoding(t, rho.top_k, rho.top_p), n, seed)
        t1 = time.perf_counter()
        by = {p.problem_id: [] for p in problems}
        for s in samples:
            by[s.prompt_id].append(s.completion)
        result = grade_samples(problems, by, executor, ks=(1,))
        t2 = time.perf_counter()
        cs = [r.c for r in result.problems]
        res[t] = {
            "pass@1": result.pass_at_k["pass@1"],
            "cs": cs,
            "by_difficulty": {d: v["pass@1"] for d, v in result.by_difficulty.items()},
            "status": result.to_json()["status_counts"],
            "sample_s": t1 - t0,
            "grade_s": t2 - t1,
        }
        log.info(
            "T_eval %.2f pass@1 %.3f %s sample %.1fs grade %.1fs",
            t,
            res[t]["pass@1"],
            res[t]["by_difficulty"],
            t1 - t0,
            t2 - t1,
        )
    return res


def bootstrap(base: dict, ssd: dict, n: int, reps: int = 2000, seed: int = 0):
    """Best-over-T_eval SSD minus best-over-T_eval base, problems resampled, T re-selected."""
    b = np.array([v["cs"] for v in base.values()]) / n  # (T, P)
    s = np.array([v["cs"] for v in ssd.values()]) / n
    rng = np.random.default_rng(seed)
    P = b.shape[1]
    deltas = []
    for _ in range(reps):
        idx = rng.integers(0, P, P)
        deltas.append(s[:, idx].mean(1).max() - b[:, idx].mean(1).max())
    point = s.mean(1).max() - b.mean(1).max()
    return float(point), [float(np.percentile(deltas, 2.5)), float(np.percentile(deltas, 97.5))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--problems", type=int, default=150)
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--t-evals", default="0.6,0.8,1.0,1.2")
    ap.add_argument("--eval-rho", default="1:0:0.95", help="k and p of evaluation decoding")
    ap.add_argument("--ideal", action="append", default=[])
    ap.add_argument("--sft", action="append", default=[])
    ap.add_argument("--no-base", action="store_true")
    ap.add_argument("--prompts", type=int, default=2000)
    ap.add_argument("--sft-steps", type=int, default=200)
    ap.add_argument("--sft-lr", type=float, default=1e-3)
    ap.add_argument("--sft-bs", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="/tmp/tw/lab.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    mcfg = ModelConfig(name="tiny", path=args.model, chat_template=False, device="cpu")
    backend = HFBackend(mcfg, batch_size=500)
    problems = load_problems("eval", args.problems, 0)
    t_evals = [float(x) for x in args.t_evals.split(",")]
    rho = parse_rho(args.eval_rho)
    out: dict = {"args": vars(args), "runs": {}}
    with Executor(workers=2) as ex:
        if not args.no_base:
            out["runs"]["base"] = evaluate(backend, Policy(), problems, t_evals, rho, args.n, ex)
        for spec in args.ideal:
            pol = Policy(pre=(parse_rho(spec),))
            out["runs"][f"ideal {spec}"] = evaluate(
                backend, pol, problems, t_evals, rho, args.n, ex
            )
        for spec in args.sft:
            d = parse_rho(spec)
            t0 = time.perf_counter()
            samples = sample(backend, Policy(), load_prompts(args.prompts, 0), d, 1, 7)
            t1 = time.perf_counter()
            samples = [s for s in samples if s.token_ids]
            ckpt = Path(args.out).with_suffix("") / f"sft_{spec.replace(':', '_')}"
            tc = TrainingConfig(
                method="sft",
                learning_rate=args.sft_lr,
                min_learning_rate=args.sft_lr / 10,
                warmup_steps=10,
                max_steps=args.sft_steps,
                per_device_train_batch_size=args.sft_bs,
                gradient_accumulation_steps=1,
                weight_decay=0.0,
                max_length=512,
                save_steps=0,
                logging_steps=50,
                torch_threads=args.threads,
            )
            metrics = backend.train(samples, tc, ckpt)
            t2 = time.perf_counter()
            log.info(
                "sft %s: sampled %d in %.1fs, trained in %.1fs: %s",
                spec,
                len(samples),
                t1 - t0,
                t2 - t1,
                metrics,
            )
            r = evaluate(backend, Policy(checkpoint=str(ckpt)), problems, t_evals, rho, args.n, ex)
            r["timing"] = {"sample_s": t1 - t0, "train_s": t2 - t1}
            out["runs"][f"sft {spec}"] = r
    base = out["runs"].get("base")
    for name, r in out["runs"].items():
        rr = {t: v for t, v in r.items() if t != "timing"}
        best = max(rr, key=lambda t: rr[t]["pass@1"])
        line = f"{name:24s} " + " ".join(f"{t}:{rr[t]['pass@1']:.3f}" for t in rr)
        if base and name != "base":
            pt, ci = bootstrap(base, rr, args.n)
            line += f"  best T {best}  delta {pt:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}]"
        print(line)
    Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
