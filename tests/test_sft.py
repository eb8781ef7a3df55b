"""SFT trains on prompt + sample + EOS token for token, with every prompt token masked."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from ssd.backends.sft import (
    accelerate_config_path,
    build_example,
    make_trainer,
    run_sft,
    train_sft,
    write_resolved,
)
from ssd.config import ModelConfig, TrainingConfig
from ssd.models.tiny_random import build_tiny_model
from ssd.records import Sample


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny")))


def model_cfg(path: str) -> ModelConfig:
    return ModelConfig(name="tiny-random", path=path, device="cpu", dtype="float32")


def smoke_training(**overrides: object) -> TrainingConfig:
    values: dict = dict(
        max_steps=2,
        warmup_steps=0,
        learning_rate=1e-2,
        per_device_train_batch_size=2,
        gradient_accumulation_steps=1,
        max_length=128,
        save_steps=0,
        logging_steps=1,
        torch_threads=1,
    )
    values.update(overrides)
    return TrainingConfig(**values)


def raw_sample(prompt_id: str, prompt: list[int], completion: list[int]) -> Sample:
    """A sampled completion as the SFT stage receives it (token ids only)."""
    return Sample(
        prompt_id=prompt_id,
        sample_index=0,
        prompt_text="",
        prompt_token_ids=prompt,
        completion="",
        token_ids=completion,
        finish_reason="stop",
        decoding=[{"temperature": 1.0, "top_k": 0, "top_p": 1.0}],
    )


def make_samples() -> list[Sample]:
    # Different prompt and completion lengths so that padding is exercised.
    specs = [([1, 5, 6, 7], [40, 41, 42]), ([1, 8], [50, 51, 52, 53, 54]), ([1, 9, 9], [60])]
    return [raw_sample(f"p{i}", prompt, completion) for i, (prompt, completion) in enumerate(specs)]


def test_build_example_masks_prompt_and_appends_eos() -> None:
    sample = make_samples()[0]
    row = build_example(sample, eos_id=2)
    assert row["input_ids"] == [1, 5, 6, 7, 40, 41, 42, 2]
    assert row["labels"] == [-100, -100, -100, -100, 40, 41, 42, 2]


@pytest.mark.integration
def test_trainer_batches_are_prompt_sample_eos(tmp_path: Path, tiny_dir: str) -> None:
    """What the trainer's data loader feeds the model, row by row, with padding stripped."""
    samples = make_samples()
    trainer = make_trainer(model_cfg(tiny_dir), samples, smoke_training(), tmp_path)
    eos = trainer.processing_class.eos_token_id
    want = {tuple(s.prompt_token_ids + s.token_ids + [eos]): s for s in samples}
    seen = 0
    for batch in trainer.get_train_dataloader():
        for ids, labels, mask in zip(
            batch["input_ids"], batch["labels"], batch["attention_mask"], strict=True
        ):
            n = int(mask.sum())
            row = tuple(ids[:n].tolist())
            sample = want[row]  # the exact sequence, token for token
            n_prompt = len(sample.prompt_token_ids)
            assert labels[:n_prompt].tolist() == [-100] * n_prompt  # every prompt token masked
            assert labels[n_prompt:n].tolist() == sample.token_ids + [eos]
            assert labels[n:].tolist() == [-100] * (len(labels) - n)  # padding masked
            seen += 1
    assert seen == len(samples)


def varied_samples(count: int) -> list[Sample]:
    """Completions of 1..60 tokens in a shuffled order, as raw samples come."""
    lengths = torch.randperm(count, generator=torch.Generator().manual_seed(0)) % 60 + 1
    return [raw_sample(f"v{i}", [1, 5], [40] * int(n)) for i, n in enumerate(lengths)]


@pytest.mark.integration
def test_group_by_length_batching_pads_less_and_still_sees_every_row(
    tmp_path: Path, tiny_dir: str
) -> None:
    """training.batching reaches the trainer: grouped batches hold rows of similar length."""
    samples = varied_samples(240)
    padded = {}
    for batching in ("random", "group_by_length"):
        training = smoke_training(per_device_train_batch_size=8, batching=batching)
        trainer = make_trainer(model_cfg(tiny_dir), samples, training, tmp_path / batching)
        rows, cells = 0, 0
        for batch in trainer.get_train_dataloader():
            rows += int(batch["input_ids"].shape[0])
            cells += batch["attention_mask"].numel() - int(batch["attention_mask"].sum())
        assert rows == len(samples)  # one pass over every row either way
        padded[batching] = cells
    assert padded["group_by_length"] < padded["random"] / 3, padded


def test_unknown_batching_is_refused() -> None:
    from ssd.config import ConfigError

    with pytest.raises(ConfigError, match="training.batching"):
        smoke_training(batching="by_size")


@pytest.mark.integration
def test_two_steps_change_params_and_save_loadable(
    tmp_path: Path, tiny_dir: str, capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ckpt"
    metrics = run_sft(model_cfg(tiny_dir), make_samples(), smoke_training(), out)
    assert metrics["steps"] == 2 and math.isfinite(metrics["train_loss"])
    # Progress: one step bar that reaches its end, not a printed dict per log.
    err = capfd.readouterr().err
    assert "2/2" in err and "'loss':" not in err
    before = AutoModelForCausalLM.from_pretrained(tiny_dir)
    after = AutoModelForCausalLM.from_pretrained(out)
    changed = [
        name
        for (name, p0), (_, p1) in zip(
            before.named_parameters(), after.named_parameters(), strict=True
        )
        if not torch.equal(p0, p1)
    ]
    assert len(changed) == len(list(before.parameters()))
    assert (out / "tokenizer.json").is_file()


@pytest.mark.integration
def test_lora_is_merged_and_adapter_kept(tmp_path: Path, tiny_dir: str) -> None:
    out = tmp_path / "lora"
    training = smoke_training(use_peft=True, lora_r=4, lora_alpha=8)
    metrics = run_sft(model_cfg(tiny_dir), make_samples(), training, out)
    assert math.isfinite(metrics["train_loss"])
    assert (out / "adapter" / "adapter_config.json").is_file()
    merged = AutoModelForCausalLM.from_pretrained(out)  # a plain model: no peft needed to load
    base = AutoModelForCausalLM.from_pretrained(tiny_dir)
    q0 = base.model.layers[0].self_attn.q_proj.weight
    q1 = merged.model.layers[0].self_attn.q_proj.weight
    assert not torch.equal(q0, q1)
    assert torch.equal(base.model.embed_tokens.weight, merged.model.embed_tokens.weight)


def test_resolved_config_and_presets(tmp_path: Path) -> None:
    path = write_resolved(model_cfg("m"), make_samples(), smoke_training(), tmp_path)
    text = path.read_text()
    assert '"max_steps": 2' in text and "${" not in text
    assert (tmp_path / "sft_samples.jsonl").read_text().count("\n") == 3
    assert accelerate_config_path("fsdp").name == "fsdp.yaml"
    assert accelerate_config_path("deepspeed_zero3").name == "deepspeed_zero3.yaml"
    with pytest.raises(ValueError, match="training.accelerate_config"):
        accelerate_config_path("nope")


def test_no_samples_is_an_error(tmp_path: Path, tiny_dir: str) -> None:
    with pytest.raises(ValueError, match="no samples"):
        make_trainer(model_cfg(tiny_dir), [], smoke_training(), tmp_path)


def test_max_length_shorter_than_every_prompt_is_an_error(tmp_path: Path, tiny_dir: str) -> None:
    with pytest.raises(ValueError, match="training.max_length=2"):
        make_trainer(model_cfg(tiny_dir), make_samples(), smoke_training(max_length=2), tmp_path)


@pytest.mark.integration
def test_accelerate_launcher_spawns_a_worker(tmp_path: Path, tiny_dir: str) -> None:
    """launcher=accelerate: `accelerate launch -m ssd.backends.sft_worker RESOLVED.json`."""
    out = tmp_path / "acc"
    training = smoke_training(launcher="accelerate", num_processes=1)
    metrics = train_sft(model_cfg(tiny_dir), make_samples(), training, out)
    assert metrics["steps"] == 2 and math.isfinite(metrics["train_loss"])
    assert (out / "sft_resolved.json").is_file() and (out / "model.safetensors").is_file()
    AutoModelForCausalLM.from_pretrained(out)


@pytest.mark.slow  # two ranks under `accelerate launch` on CPU (gloo): ~1-2 min
def test_two_ranks_gather_and_save_one_checkpoint_in_the_base_dtype(tmp_path: Path) -> None:
    """The multi-process save (FSDP/ZeRO-3/DDP): every rank joins the gather, rank 0 writes the
    weights once, in the base model's dtype, with a config that says so."""
    base = build_tiny_model(tmp_path / "bf16", dtype=torch.bfloat16)
    out = tmp_path / "acc2"
    # save_steps 1: checkpoints with optimizer state written by two ranks, stripped by rank 0.
    training = smoke_training(launcher="accelerate", num_processes=2, save_steps=1)
    metrics = train_sft(model_cfg(str(base)), make_samples(), training, out)
    assert metrics["steps"] == 2 and math.isfinite(metrics["train_loss"])
    from ssd.backends.sft import CHECKPOINTS_DIR, resumable

    kept = sorted((out / CHECKPOINTS_DIR).glob("checkpoint-*"))
    assert [p.name for p in kept] == ["checkpoint-1", "checkpoint-2"]
    assert not any(resumable(p) for p in kept)
    trained = AutoModelForCausalLM.from_pretrained(out)
    assert next(trained.parameters()).dtype == torch.bfloat16
    assert json.loads((out / "config.json").read_text()).get("dtype") == "bfloat16"


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return dict(AutoModelForCausalLM.from_pretrained(folder).state_dict())


KILL_AT_STEP_4 = """
import os, signal, sys
from pathlib import Path
from transformers import TrainerCallback
sys.path.insert(0, {tests!r})
from test_sft import make_samples, model_cfg, smoke_training
from ssd.backends.sft import make_trainer

class Kill(TrainerCallback):
    def on_save(self, args, state, control, **kw):
        if state.global_step == 4:
            os.kill(os.getpid(), signal.SIGKILL)

training = smoke_training(**{kw!r})
trainer = make_trainer(model_cfg({model!r}), make_samples(), training, Path({out!r}))
trainer.add_callback(Kill())
trainer.train()
"""


@pytest.mark.integration
def test_sigkilled_training_resumes_from_its_newest_checkpoint(
    tmp_path: Path, tiny_dir: str
) -> None:
    """SIGKILL after step 4's checkpoint, rerun: the run continues at step 4 and its student is
    the uninterrupted run's; only the newest checkpoint ever holds optimizer state, and none once
    the run has finished (the kept checkpoints are model-only, for evaluation)."""
    import subprocess
    import sys

    from ssd.backends.sft import CHECKPOINTS_DIR, resumable

    kw = dict(max_steps=6, save_steps=2, learning_rate=1e-3, warmup_steps=1, seed=3)
    whole = run_sft(model_cfg(tiny_dir), make_samples(), smoke_training(**kw), tmp_path / "whole")
    assert whole["resumed_from_step"] == 0 and whole["steps"] == 6

    out = tmp_path / "killed"
    code = KILL_AT_STEP_4.format(
        tests=str(Path(__file__).parent), model=tiny_dir, kw=kw, out=str(out)
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr[-2000:]
    checkpoints = out / CHECKPOINTS_DIR
    assert resumable(checkpoints / "checkpoint-4")
    assert (checkpoints / "checkpoint-2").is_dir() and not resumable(checkpoints / "checkpoint-2")

    resumed = run_sft(model_cfg(tiny_dir), make_samples(), smoke_training(**kw), out)
    assert resumed["resumed_from_step"] == 4 and resumed["steps"] == 6
    a, b = _weights(tmp_path / "whole"), _weights(out)
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=0, atol=1e-6, msg=name)
    kept = sorted(checkpoints.glob("checkpoint-*"))
    assert [p.name for p in kept] == ["checkpoint-2", "checkpoint-4", "checkpoint-6"]
    assert not any(resumable(p) for p in kept)
    # The students moved away from the base model, so the equality above is not trivial.
    base = _weights(Path(tiny_dir))
    assert not all(torch.equal(a[n], base[n]) for n in a)


@pytest.mark.integration
def test_resume_off_starts_over_and_keeps_model_only_checkpoints(
    tmp_path: Path, tiny_dir: str
) -> None:
    from ssd.backends.sft import CHECKPOINTS_DIR, resumable

    out = tmp_path / "run"
    training = smoke_training(max_steps=2, save_steps=1, resume=False)
    run_sft(model_cfg(tiny_dir), make_samples(), training, out)
    assert not any(resumable(p) for p in (out / CHECKPOINTS_DIR).glob("checkpoint-*"))
    again = run_sft(model_cfg(tiny_dir), make_samples(), training, out)
    assert again["resumed_from_step"] == 0
