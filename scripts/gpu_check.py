"""GPU check: sample and fine-tune a random-weight Qwen3-style model through the project's code.

Builds a Qwen3-0.6B-shaped model with random weights (no download; ssd/models/tiny_random.py),
samples with ``HFBackend.generate`` and fine-tunes with ``ssd.backends.sft`` (TRL), exactly the
code the pipeline runs, and prints tokens per second for both and the peak GPU memory.
    python scripts/gpu_check.py                      # needs CUDA; about 2-4 minutes on one H100
    python scripts/gpu_check.py --tiny               # CPU smoke run of the same path (~30 s)
    python scripts/gpu_check.py --vllm               # also sample with vLLM when it is installed
    python scripts/gpu_check.py --launcher accelerate   # SFT through `accelerate launch`
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import torch

from ssd.backends.base import Policy
from ssd.backends.hf import HFBackend
from ssd.config import FilterConfig, ModelConfig, TrainingConfig
from ssd.decoding import Decoding
from ssd.models.tiny_random import TinySpec, build_tiny_model
from ssd.records import Prompt, Sample

# Qwen3-0.6B's shape (28 layers, hidden 1024, GQA 16/8, head 128, vocab 151,936), random weights.
QWEN3_06B = TinySpec(
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
TINY = TinySpec()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny model on CPU (smoke run)")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--n", type=int, default=4, help="samples per prompt")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=256, help="sequences decoded together")
    parser.add_argument("--train-steps", type=int, default=10)
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--launcher", choices=("in_process", "accelerate"), default="in_process")
    parser.add_argument("--vllm", action="store_true", help="also sample with the vllm backend")
    parser.add_argument("--out", type=Path, default=None, help="work folder (default: temporary)")
    return parser.parse_args()


def make_prompts(count: int) -> list[Prompt]:
    return [
        Prompt(f"gpu-check-{i}", [{"role": "user", "content": f"Write a Python function {i}."}])
        for i in range(count)
    ]


def time_sampling(backend: object, prompts: list[Prompt], args: argparse.Namespace) -> list[Sample]:
    samples: list[Sample] = []
    decoding = Decoding(temperature=1.0, top_k=20, top_p=0.95)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    backend.generate(  # type: ignore[attr-defined]
        Policy(), prompts, decoding, n=args.n, max_tokens=args.max_tokens, seed=0,
        on_batch=samples.extend,
    )  # fmt: skip
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    tokens = sum(len(s.token_ids) for s in samples)
    print(
        f"sampling ({type(backend).__name__}): {len(samples)} samples, {tokens} tokens in "
        f"{seconds:.1f} s = {tokens / seconds:,.0f} tokens/s"
    )
    return samples


def main() -> int:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not args.tiny and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; run it on a GPU machine, or use --tiny for CPU")
        return 2
    device = "cpu" if args.tiny else "cuda"
    if args.tiny:
        torch.set_num_threads(1)  # shared CPU cores: one thread is the fastest per process
    spec = TINY if args.tiny else QWEN3_06B
    work = args.out or Path(tempfile.mkdtemp(prefix="ssd-gpu-check-"))
    start = time.perf_counter()
    model_dir = build_tiny_model(
        work / "model", spec, dtype=torch.float32 if args.tiny else torch.bfloat16
    )
    print(f"device: {torch.cuda.get_device_name(0) if device == 'cuda' else 'cpu'}")
    seconds = time.perf_counter() - start
    print(f"model: random Qwen3 {json.dumps(spec.__dict__)} built in {seconds:.1f} s")

    model_cfg = ModelConfig(
        name="gpu-check",
        path=str(model_dir),
        dtype="float32" if args.tiny else "bfloat16",
        device=device,
    )
    backend = HFBackend(model_cfg, batch_size=args.batch_size)
    loaded, _ = backend.load()
    n_params = sum(p.numel() for p in loaded.parameters())
    print(f"parameters: {n_params / 1e6:.1f} M")
    prompts = make_prompts(args.prompts)
    samples = time_sampling(backend, prompts, args)
    if device == "cuda":
        print(f"peak GPU memory (sampling): {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
        torch.cuda.reset_peak_memory_stats()

    training = TrainingConfig(
        method="sft",
        warmup_steps=1,
        max_steps=args.train_steps,
        per_device_train_batch_size=args.train_batch,
        gradient_accumulation_steps=1,
        max_length=4096,
        save_steps=0,
        logging_steps=1,
        bf16=not args.tiny,
        gradient_checkpointing=False,
        launcher=args.launcher,
        torch_threads=1 if args.tiny else 0,
        filter=FilterConfig(drop_empty=False, drop_stubs=False),
    )
    backend._loaded = None  # free the sampling copy before training (the stage does the same)
    metrics = backend.train(samples, training, work / "trained")
    print(
        f"training: {metrics['steps']} steps, loss {metrics['train_loss']:.3f}, "
        f"{metrics['tokens_per_second']:,.0f} tokens/s ({metrics['train_runtime']:.1f} s)"
    )
    if device == "cuda" and args.launcher == "in_process":
        print(f"peak GPU memory (training): {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")

    trained: list[Sample] = []
    backend.generate(
        Policy(checkpoint=str(work / "trained")), prompts[:2], Decoding(1.0), n=1,
        max_tokens=8, seed=0, on_batch=trained.extend,
    )  # fmt: skip
    print(f"reloaded trained checkpoint and sampled {len(trained)} completions")

    if args.vllm:
        try:
            from ssd.backends.vllm import VLLMBackend

            backend._loaded = None
            torch.cuda.empty_cache()
            vllm_cfg = ModelConfig(
                name="gpu-check", path=str(model_dir), dtype="bfloat16", device="cuda",
                max_model_len=4096, gpu_memory_utilization=0.5,
            )  # fmt: skip
            time_sampling(VLLMBackend(vllm_cfg), prompts, args)
        except ImportError as err:
            print(f"vllm: skipped ({err})")
    print("gpu_check: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
