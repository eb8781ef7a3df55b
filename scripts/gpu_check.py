"""The one prepared device check: is the GPU path of ssd ready for the paper's models?

Runs, on one GPU (an H200 takes an estimated 5-8 minutes; docs/gpu.md), with no download:
  1. model: a random-weight model of Qwen3-0.6B's shape with a locally trained tokenizer.
  2. distributions: next-token distributions of the hf backend (``ssd.decoding``, vLLM's top-k
     tie rule) and of vLLM's own sampler ops (the Triton top-k/top-p kernel) on the same logits,
     and the ideal student's logits processor against ``ssd.decoding.chain_logprobs``.
  3. pipeline: ``ssd.pipeline.run_trial`` with ``isolate_stages=true``: sample (vLLM) -> SFT
     (TRL) -> evaluate the base, the SSD model and the ideal student (vLLM with the logits
     processor, T_train x T_eval above vLLM's limit of 2) on the tiny-world benchmark.
  4. throughput: sampling tokens/s (vLLM, timed after the engine is up) and SFT tokens/s, each
     with its model FLOPs utilisation (MFU: 2N or 6N FLOPs per token over the GPU's peak).
Exit 0 and a last line "gpu_check: OK" mean every step ran and every check passed; the JSON
summary goes to --out/summary.json.

    python scripts/gpu_check.py --help
    python scripts/gpu_check.py                # on the GPU host (vLLM installed: docs/gpu.md)
    python scripts/gpu_check.py --dry-run      # the same steps on tiny-random on CPU, hf backend
    python scripts/gpu_check.py --dry-run --quick   # smallest, stages in-process (CI's test)
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch, transformers and ssd load after argument parsing (a fast --help)
    import torch

    from ssd.decoding import Decoding
    from ssd.records import Prompt

# Qwen3-0.6B's shape (28 layers, hidden 1024, GQA 16/8, head 128, vocab 151,936), random weights.
QWEN3_06B = dict(
    hidden_size=1024,
    num_hidden_layers=28,
    num_attention_heads=16,
    num_key_value_heads=8,
    head_dim=128,
    intermediate_size=3072,
    max_position_embeddings=40960,
    vocab_size=2048,
    model_vocab_size=151936,
    tie_word_embeddings=True,
)
# Dense bf16 peak FLOP/s by device name (vendor data sheets, without sparsity).
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "B200": 2250e12}
# (temperature, top_k, top_p) compared between the hf backend and vLLM: presets, sweep corners.
DECODINGS = [(1.0, 20, 0.8), (0.7, 20, 0.8), (1.6, 0, 0.95), (1.1, 50, 1.0), (0.6, 1, 1.0)]
IDEAL_CHAINS = [  # [train, eval] of the ideal student: truncating T_train, product above 2
    [(1.6, 20, 0.8), (1.5, 20, 0.8)],
    [(2.0, 0, 0.9), (1.5, 0, 1.0)],
]
MAX_PROB_DIFF = 1e-3  # float32 kernels against float64 references
MAX_SET_MISMATCH = 0.02  # share of rows whose kept token sets may differ (top-p on float32 sums)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog="How to run it on an offline GPU host: docs/gpu.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="walk the same steps on tiny-random on CPU with the hf backend (no GPU, no vLLM)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="with --dry-run: smallest sizes, stages in this process (the CI test)",
    )
    parser.add_argument("--out", type=Path, default=None, help="work folder (default: temporary)")
    parser.add_argument("--prompts", type=int, default=256, help="SSD prompts sampled (GPU)")
    parser.add_argument("--max-tokens", type=int, default=512, help="tokens per completion (GPU)")
    parser.add_argument("--train-steps", type=int, default=20, help="SFT steps (GPU)")
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="the device's dense bf16 peak, for MFU"
    )
    return parser.parse_args(argv)


def step(name: str) -> float:
    print(f"\n== {name}", flush=True)
    return time.perf_counter()


def done(start: float) -> None:
    print(f"   ({time.perf_counter() - start:.1f} s)", flush=True)


# --- 2. distributions ------------------------------------------------------------------------
def vllm_sampler_probs(logits: torch.Tensor, decoding: Decoding) -> tuple[torch.Tensor, str]:
    """vLLM's next-token distribution for ``logits`` ([rows, vocab] float32): its temperature,
    then its own top-k/top-p op (the Triton kernel on CUDA, its PyTorch path elsewhere)."""
    import torch
    from vllm.v1.sample.ops import topk_topp_sampler as ops

    rows, vocab = logits.shape
    x = (logits.float() / decoding.temperature).contiguous()
    k = (
        torch.full((rows,), decoding.top_k, dtype=torch.int32, device=x.device)
        if 0 < decoding.top_k < vocab
        else None
    )
    p = (
        torch.full((rows,), decoding.top_p, dtype=torch.float32, device=x.device)
        if decoding.top_p < 1.0
        else None
    )
    if x.is_cuda:
        out, path = (
            ops.apply_top_k_top_p(x, k, p),
            "vllm-triton" if ops.HAS_TRITON else "vllm-torch",
        )
    else:
        out, path = ops.apply_top_k_top_p_pytorch(x, k, p, allow_cpu_sync=True), "vllm-torch"
    return torch.softmax(out.double(), dim=-1), path


def compare(name: str, want: torch.Tensor, got: torch.Tensor) -> dict[str, Any]:
    """Distributions over the same logits. Rows [0, half) hold raw logits: the kept sets and
    probabilities must agree. Rows [half, end) hold logits with exact ties: which of several
    tied tokens a truncation keeps is each engine's own choice (vLLM's sort is not stable), so
    there the sorted probabilities must agree (the same distribution up to tied tokens)."""
    half = len(want) // 2
    diff = float((want[:half] - got[:half]).abs().max())
    mismatch = float(((want[:half] > 0) != (got[:half] > 0)).any(dim=-1).double().mean())
    sorted_diff = float((want.sort(dim=-1).values - got.sort(dim=-1).values).abs().max())
    ok = diff <= MAX_PROB_DIFF and mismatch <= MAX_SET_MISMATCH and sorted_diff <= MAX_PROB_DIFF
    print(
        f"   {'ok ' if ok else 'BAD'} {name}: raw logits max |dp| {diff:.1e}, kept sets differ "
        f"{mismatch:.1%}; tied logits max |dp| up to ties {sorted_diff:.1e}"
    )
    return {
        "name": name,
        "max_abs_diff": diff,
        "set_mismatch": mismatch,
        "max_abs_diff_up_to_ties": sorted_diff,
        "ok": ok,
    }


def next_token_logits(model_dir: Path, device: str, dtype: torch.dtype) -> torch.Tensor:
    """Last-position logits of the model for a batch of random token prompts, plus a copy
    rounded to 1/8 (many exact ties at the top-k boundary, as bf16 logits have)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(device).eval()
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, model.config.vocab_size, (64, 24), generator=gen).to(device)
    with torch.inference_mode():
        logits = model(ids).logits[:, -1, :].float()
    del model
    logits = logits * 8.0  # a random model's logits are nearly flat: spread them like a trained one
    return torch.cat([logits, torch.round(logits * 8) / 8])


def check_distributions(model_dir: Path, device: str, dtype: torch.dtype) -> dict[str, Any]:
    from ssd.backends.vllm import plan_decoding
    from ssd.backends.vllm_limits import VLLM_TOP_K_TIES
    from ssd.backends.vllm_processor import apply_chains
    from ssd.decoding import Decoding, chain_logprobs, warp

    logits = next_token_logits(model_dir, device, dtype)
    checks: list[dict[str, Any]] = []
    try:
        import vllm  # noqa: F401
    except ImportError:
        vllm_here = False
        print("   vLLM not installed: its sampler ops are not compared (GPU runs need them)")
    else:
        vllm_here = True
    for values in DECODINGS:
        if not vllm_here:
            break
        decoding = Decoding(*values)
        got, path = vllm_sampler_probs(logits, decoding)
        rule = VLLM_TOP_K_TIES if path == "vllm-triton" else "keep"  # vLLM's PyTorch path keeps
        want = warp(logits.double(), decoding, rule).exp()
        checks.append(compare(f"{path} vs hf({rule}) {decoding.as_dict()}", want, got.cpu()))
    for values_chain in IDEAL_CHAINS:  # the ideal student: processor, then vLLM's own decoding
        chain = [Decoding(*v) for v in values_chain]
        plan = plan_decoding(chain)
        target = apply_chains(
            logits.clone(), [(r, (plan.pre, VLLM_TOP_K_TIES)) for r in range(len(logits))]
        )
        if vllm_here and target.is_cuda:
            got, path = vllm_sampler_probs(target, plan.decoding)
        else:
            got, path = warp(target.double(), plan.decoding, VLLM_TOP_K_TIES).exp(), "processor"
        want = chain_logprobs(logits.double(), chain, VLLM_TOP_K_TIES).exp()
        label = " -> ".join(str(d.as_dict()) for d in chain)
        checks.append(compare(f"ideal student via {path}: {label}", want.cpu(), got.cpu()))
    return {"checks": checks, "ok": all(c["ok"] for c in checks), "vllm_compared": vllm_here}


# --- 3. pipeline -----------------------------------------------------------------------------
def pipeline_overrides(args: argparse.Namespace, model_dir: Path, work: Path) -> list[str]:
    common = [
        f"paths.output_dir={work}",
        f"paths.cache_dir={work}/cache",
        "tracking=none",
        "data=tinyworld",
        "evaluation=tinyworld",
        "model=tiny-random",  # a preset with every model key; the lines below set them
        "training=sft_smoke",
        "++model.name=gpu-check",
        f"++model.path={model_dir}",
        "++model.chat_template=true",
        f"isolate_stages={'false' if args.quick else 'true'}",
        # T_train x T_eval = 2.4 > 2, truncating T_train: the ideal student's processor path
        "sampling.temperature=1.6",
        "sampling.top_k=20",
        "sampling.top_p=0.8",
        "evaluation.temperature=1.5",
        "evaluation.top_k=20",
        "evaluation.top_p=0.8",
        "evaluation.include_ideal=true",
        "objective=ssd.pass@1",
    ]
    if args.dry_run:
        size = 4 if args.quick else 16
        return [
            *common,
            "sampling.backend=hf",
            "sampling.top_k_ties=exact",  # hf decodes by vLLM's tie rule, as a comparison run would
            "++model.device=cpu",
            "++model.dtype=float32",
            f"data.num_prompts={size}",
            "sampling.max_tokens=16",
            "evaluation.max_tokens=16",
            "evaluation.n=2",
            "evaluation.k=[1,2]",
            f"evaluation.num_problems={2 if args.quick else 8}",
            "evaluation.workers=1",
            f"training.max_steps={1 if args.quick else 2}",
        ]
    return [
        *common,
        "sampling.backend=vllm",
        "++model.device=cuda",
        "++model.dtype=bfloat16",
        "++model.max_model_len=4096",
        "++model.gpu_memory_utilization=0.6",
        f"data.num_prompts={args.prompts}",
        f"sampling.max_tokens={args.max_tokens}",
        f"evaluation.max_tokens={args.max_tokens}",
        "evaluation.n=4",
        "evaluation.k=[1,4]",
        "evaluation.num_problems=64",
        f"training.max_steps={args.train_steps}",
        "training.bf16=true",
        "training.torch_threads=0",
    ]


def run_pipeline(args: argparse.Namespace, model_dir: Path, work: Path) -> dict[str, Any]:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from ssd.config import RunConfig
    from ssd.pipeline import run_trial

    conf = Path(__file__).resolve().parents[1] / "conf"
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(conf)):
        cfg = compose(config_name="config", overrides=pipeline_overrides(args, model_dir, work))
    run = RunConfig.from_dictconfig(cfg)
    results = run_trial(run, work / "run")
    for name in ("base", "ssd", "ideal"):
        print(f"   {name}: pass@1 {results[name]['pass@1']:.3f}")
    print(f"   stage seconds: {results['timings']}")
    return results


# --- 4. throughput ---------------------------------------------------------------------------
def _sampling_throughput(
    backend_name: str, model_cfg: Any, prompts: list[Prompt], max_tokens: int
) -> dict[str, Any]:
    """In its own process (spawned): load, then time one generate call (load excluded)."""
    import torch

    from ssd.backends import load_backend
    from ssd.backends.base import Policy
    from ssd.decoding import Decoding

    backend = load_backend(model_cfg, backend_name, "auto")
    if backend_name == "vllm":
        backend.load(None, with_processor=False)  # type: ignore[attr-defined]
    else:
        backend.load()  # type: ignore[attr-defined]
    out: list[Any] = []
    decoding = Decoding(1.0, 20, 0.95)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    backend.generate(
        Policy(), prompts, decoding, n=1, max_tokens=max_tokens, seed=0, on_batch=out.extend
    )
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"tokens": sum(len(s.token_ids) for s in out), "seconds": seconds}


def peak_flops(args: argparse.Namespace, device: str) -> float | None:
    import torch

    if args.peak_tflops:
        return args.peak_tflops * 1e12
    if device != "cuda":
        return None
    name = torch.cuda.get_device_name(0)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def throughput(
    args: argparse.Namespace, model_dir: Path, results: dict[str, Any], device: str
) -> dict[str, Any]:
    from safetensors import safe_open

    from ssd.config import ModelConfig
    from ssd.records import Prompt
    from ssd.stage_process import run_in_process

    n_params = 0  # from the checkpoint's tensor shapes (tied embeddings stored once)
    for f in model_dir.glob("*.safetensors"):
        with safe_open(str(f), "pt") as st:
            n_params += sum(math.prod(st.get_slice(key).get_shape()) for key in st.keys())
    backend_name = "hf" if args.dry_run else "vllm"
    model_cfg = ModelConfig(
        name="gpu-check",
        path=str(model_dir),
        dtype="float32" if args.dry_run else "bfloat16",
        device=device,
        max_model_len=4096,
        gpu_memory_utilization=0.6,
    )
    count = 8 if args.dry_run else args.prompts
    prompts = [
        Prompt(f"tput-{i}", [{"role": "user", "content": f"Write a Python function {i}."}])
        for i in range(count)
    ]
    max_tokens = 16 if args.dry_run else args.max_tokens
    if args.quick:
        timed = _sampling_throughput(backend_name, model_cfg, prompts, max_tokens)
    else:
        timed = run_in_process(
            _sampling_throughput, backend_name, model_cfg, prompts, max_tokens, name="throughput"
        )
    peak = peak_flops(args, device)
    sample_tps = timed["tokens"] / timed["seconds"] if timed["seconds"] > 0 else 0.0
    train_tps = float(results.get("training", {}).get("tokens_per_second", 0.0))
    out = {
        "parameters": n_params,
        "sampling_tokens_per_s": sample_tps,
        "training_tokens_per_s": train_tps,
        "peak_flops": peak,
        "sampling_mfu": 2 * n_params * sample_tps / peak if peak else None,
        "training_mfu": 6 * n_params * train_tps / peak if peak else None,
    }

    def mfu(value: float | None) -> str:
        return f"MFU {value:.1%}" if value is not None else "MFU n/a (no peak: --peak-tflops)"

    print(f"   parameters: {n_params / 1e6:.1f} M")
    print(f"   sampling ({backend_name}): {sample_tps:,.0f} tokens/s, {mfu(out['sampling_mfu'])}")
    print(f"   SFT: {train_tps:,.0f} tokens/s, {mfu(out['training_mfu'])}")
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import torch

    from ssd.models.tiny_random import TinySpec, build_tiny_model

    if not args.dry_run and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here: run it on the GPU host, or --dry-run on CPU")
        return 2
    if not args.dry_run:
        try:
            import vllm
        except ImportError:
            print("gpu_check: vLLM is not installed: pip install -e '.[vllm]' (docs/gpu.md)")
            return 2
        print(
            f"vllm {vllm.__version__}, torch {torch.__version__}, {torch.cuda.get_device_name(0)}"
        )
    device = "cpu" if args.dry_run else "cuda"
    if args.dry_run:
        torch.set_num_threads(1)
    work = args.out or Path(tempfile.mkdtemp(prefix="ssd-gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"dry_run": args.dry_run, "work": str(work)}
    total = time.perf_counter()

    t = step("1/4 model")
    spec = TinySpec() if args.dry_run else TinySpec(**QWEN3_06B)  # type: ignore[arg-type]
    dtype = torch.float32 if args.dry_run else torch.bfloat16
    model_dir = work / "model"
    if not (model_dir / "config.json").is_file():
        build_tiny_model(model_dir, spec, dtype=dtype)
    print(f"   random Qwen3 {spec} at {model_dir}")
    done(t)

    t = step("2/4 next-token distributions: hf (ssd.decoding) vs vLLM on the same logits")
    summary["distributions"] = check_distributions(model_dir, device, dtype)
    done(t)

    where = "in this process" if args.quick else "isolated stages"
    t = step(f"3/4 pipeline: sample -> SFT -> evaluate base, SSD, ideal ({where})")
    results = run_pipeline(args, model_dir, work)
    summary["pipeline"] = {
        k: results[k] for k in ("base", "ssd", "ideal", "timings", "training") if k in results
    }
    done(t)

    t = step("4/4 throughput")
    summary["throughput"] = throughput(args, model_dir, results, device)
    done(t)

    summary["seconds"] = round(time.perf_counter() - total, 1)
    (work / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    ok = summary["distributions"]["ok"]
    print(f"\nsummary: {work / 'summary.json'} ({summary['seconds']} s)")
    print("gpu_check: OK" if ok else "gpu_check: FAILED (distributions differ, see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
