"""Must-show 1 on CPU: a Qwen3 model with a locally trained tokenizer goes through sample ->
train -> reload -> sample -> evaluate on the real code path (stages, hf backend, TRL, grader)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from ssd.backends.base import Policy
from ssd.backends.hf import HFBackend
from ssd.config import (
    DataConfig,
    EvaluationConfig,
    FilterConfig,
    ModelConfig,
    SamplingConfig,
    TrainingConfig,
)
from ssd.evaluation.stage import evaluate
from ssd.models.tiny_random import build_tiny_model
from ssd.prompt_sets import load_prompt_set
from ssd.records import Sample
from ssd.sampling import load_samples, sample
from ssd.training import train

pytestmark = pytest.mark.integration


def completion_logprob(model_dir: Path, samples: list[Sample]) -> float:
    """Mean log-likelihood per completion token (EOS included) of the samples under a model."""
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    eos = model.generation_config.eos_token_id
    total, count = 0.0, 0
    for s in samples:
        ids = torch.tensor([s.prompt_token_ids + s.token_ids + [eos]])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[0, :-1].double(), dim=-1)
        targets = ids[0, 1:]
        picked = logp.gather(-1, targets[:, None])[:, 0]
        total += float(picked[len(s.prompt_token_ids) - 1 :].sum())
        count += len(s.token_ids) + 1
    return total / count


def test_sample_train_reload_sample_evaluate(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    base_dir = build_tiny_model(tmp_path / "base")
    model = ModelConfig(name="tiny-roundtrip", path=str(base_dir), dtype="float32", device="cpu")
    backend = HFBackend(model, batch_size=16)

    # Prompts through the prompt-set loader (JSONL, de-duplication, template rendering).
    rows = [{"question": f"Print the sum of {i} and the input number."} for i in range(12)]
    rows.append({"question": "Print  the sum of 0 and the input   number."})  # duplicate
    (tmp_path / "prompts.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    prompts = load_prompt_set(
        DataConfig(name="jsonl", path=str(tmp_path / "prompts.jsonl"), num_prompts=-1)
    )
    assert len(prompts) == 12

    sampling = SamplingConfig(
        backend="hf", temperature=1.0, top_k=20, top_p=0.95, n=2, max_tokens=24, batch_size=8
    )
    counts = sample(backend, prompts, sampling, tmp_path / "samples")
    samples = load_samples(tmp_path / "samples")
    assert counts["num_samples"] == len(samples) == 24

    training = TrainingConfig(
        method="sft",
        learning_rate=3e-3,
        min_learning_rate=3e-4,
        warmup_steps=0,
        max_steps=8,
        per_device_train_batch_size=8,
        gradient_accumulation_steps=1,
        max_length=1024,
        save_steps=0,
        logging_steps=1,
        torch_threads=1,
        filter=FilterConfig(drop_empty=True, drop_stubs=False),
    )
    metrics = train(backend, samples, training, tmp_path / "ckpt")
    assert metrics["steps"] == 8 and math.isfinite(metrics["train_loss"])
    kept = [s for s in samples if s.completion.strip() and s.token_ids]
    assert metrics["filter"]["kept"] == len(kept)

    # Reload: the checkpoint is a plain HF folder and fits its training data better than the base.
    assert completion_logprob(tmp_path / "ckpt", kept) > completion_logprob(base_dir, kept) + 0.05

    trained = Policy(checkpoint=str(tmp_path / "ckpt"))
    again: list[Sample] = []
    backend.generate(
        trained, prompts, sampling.decoding(), n=2, max_tokens=24, seed=0, on_batch=again.extend
    )
    assert len(again) == 24 and all(s.finish_reason in ("stop", "length") for s in again)
    assert [s.token_ids for s in again] != [s.token_ids for s in samples]

    evaluation = EvaluationConfig(
        benchmark="humaneval",
        temperature=1.0,
        top_k=20,
        top_p=0.95,
        n=2,
        k=[1, 2],
        max_tokens=16,
        num_problems=2,
        template="humaneval_completion",
        workers=1,
    )
    result = evaluate(backend, trained, evaluation, tmp_path / "eval")
    assert 0.0 <= result["pass@1"] <= 1.0 and result["num_problems"] == 2
    lines = (tmp_path / "eval" / "problems.jsonl").read_text().splitlines()
    assert [json.loads(line)["n"] for line in lines] == [2, 2]
