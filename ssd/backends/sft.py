"""SFT on raw samples: the stored token ids, loss on completion tokens only, TRL's ``SFTTrainer``.

Each training sequence is ``prompt_token_ids + token_ids + [eos]`` exactly as sampled (no
re-tokenisation); labels are ``-100`` on every prompt token. The dataset reaches TRL pre-tokenised
with an explicit ``labels`` column, which TRL uses as is (no chat template, no EOS added again).
Full fine-tune or LoRA (merged before saving); the result is a Hugging Face folder vLLM loads.
``training.launcher=accelerate`` runs ``accelerate launch -m ssd.backends.sft_worker FILE.json``.
Test: ``pytest tests/test_sft.py``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ssd import fidelity
from ssd.backends.hf import resolve_model_path
from ssd.records import Sample
from ssd.tracking import sft_stream_callback

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
ACCELERATE_PRESETS = REPO_ROOT / "conf" / "accelerate"  # fsdp.yaml, deepspeed_zero3.yaml
METRICS_FILE = "train_metrics.json"
RESOLVED_FILE = "sft_resolved.json"
SAMPLES_FILE = "sft_samples.jsonl"


def build_example(sample: Sample, eos_id: int) -> dict[str, list[int]]:
    """One training row: ``input_ids = prompt + completion + [eos]``, prompt tokens masked."""
    completion = [*sample.token_ids, eos_id]
    return {
        "input_ids": [*sample.prompt_token_ids, *completion],
        "labels": [-100] * len(sample.prompt_token_ids) + completion,
    }


def build_dataset(samples: Sequence[Sample], eos_id: int, max_length: int | None = None) -> Any:
    """A ``datasets.Dataset`` of ``build_example`` rows.

    TRL cuts rows to ``max_length`` from the right and drops rows left without a completion
    token; this says how many that hits, and refuses to train on nothing.
    """
    from datasets import Dataset

    if not samples:
        raise ValueError("no samples to train on (all filtered out?)")
    rows = [build_example(s, eos_id) for s in samples]
    if max_length is not None:
        cut = sum(len(r["input_ids"]) > max_length for r in rows)
        lost = sum(len(s.prompt_token_ids) >= max_length for s in samples)
        if lost == len(rows):
            raise ValueError(
                f"training.max_length={max_length} is invalid: every prompt is at least that "
                "long, so no completion token would be trained on"
            )
        if cut:
            logger.warning(
                "%d of %d sequences exceed training.max_length=%d and are cut; %d lose their "
                "whole completion and are dropped",
                cut,
                len(rows),
                max_length,
                lost,
            )
    return Dataset.from_dict({k: [r[k] for r in rows] for k in ("input_ids", "labels")})


def under_fsdp() -> bool:
    """Whether this process is a rank of an FSDP ``accelerate launch`` (conf/accelerate/fsdp)."""
    return os.environ.get("ACCELERATE_USE_FSDP", "false").lower() in ("1", "true")


def on_cpu(model_cfg: Any) -> bool:
    return model_cfg.device == "cpu" or (
        model_cfg.device == "auto" and not torch.cuda.is_available()
    )


def sft_config(training: Any, out_dir: Path, cpu: bool) -> Any:
    """``SFTConfig`` from the project's ``TrainingConfig`` (same field names, explicit values)."""
    from trl import SFTConfig

    if cpu and (training.bf16 or training.gradient_checkpointing):
        logger.warning("bf16 and gradient_checkpointing are turned off on CPU")
    checkpointing = training.gradient_checkpointing and not cpu
    if checkpointing and under_fsdp():
        # transformers refuses its own checkpointing beside FSDP's: conf/accelerate/fsdp.yaml
        # turns on fsdp_activation_checkpointing instead.
        logger.info("gradient checkpointing by FSDP (fsdp_activation_checkpointing)")
        checkpointing = False
    scheduler_kwargs = (
        {"min_lr": training.min_learning_rate}
        if training.lr_scheduler_type == "cosine_with_min_lr"
        else None
    )
    return SFTConfig(
        output_dir=str(out_dir / CHECKPOINTS_DIR),
        use_cpu=cpu,
        bf16=training.bf16 and not cpu,
        gradient_checkpointing=checkpointing,
        # Non-reentrant: the variant torch recommends, and the one that works with DDP/ZeRO-3.
        gradient_checkpointing_kwargs={"use_reentrant": False} if checkpointing else None,
        learning_rate=training.learning_rate,
        lr_scheduler_type=training.lr_scheduler_type,
        lr_scheduler_kwargs=scheduler_kwargs,
        warmup_steps=training.warmup_steps,
        max_steps=training.max_steps,
        num_train_epochs=training.num_train_epochs,
        per_device_train_batch_size=training.per_device_train_batch_size,
        gradient_accumulation_steps=training.gradient_accumulation_steps,
        train_sampling_strategy=training.batching,
        adam_beta1=training.adam_beta1,
        adam_beta2=training.adam_beta2,
        weight_decay=training.weight_decay,
        max_length=training.max_length,
        logging_steps=training.logging_steps,
        save_strategy="steps" if training.save_steps > 0 else "no",
        save_steps=max(training.save_steps, 1),
        # With training.resume a checkpoint also holds optimizer, scheduler and RNG state, so a
        # killed run continues where it stopped (ssd.backends.sft.resume_point); only the newest
        # checkpoint keeps that state (_KeepNewestResumable), and none once the run finishes.
        save_only_model=not training.resume,
        seed=training.seed,
        packing=False,
        # Real tokens trained on so far (state.num_input_tokens_seen): what a pruned trial spent.
        include_num_input_tokens_seen="non_padding",
        report_to="none",  # ssd.tracking logs the returned metrics
        disable_tqdm=False,  # a step bar (see _StepBar), also in logs of non-interactive jobs
    )


def peft_config(training: Any) -> Any:
    from peft import LoraConfig

    targets = training.lora_target_modules
    return LoraConfig(
        r=training.lora_r,
        lora_alpha=training.lora_alpha,
        lora_dropout=training.lora_dropout,
        target_modules="all-linear" if list(targets) == ["all-linear"] else list(targets),
        task_type="CAUSAL_LM",
    )


# -- resuming --------------------------------------------------------------------------------
CHECKPOINTS_DIR = "checkpoints"  # TrainingArguments.output_dir inside the stage's folder
# What a checkpoint holds only to be resumed: transformers' optimizer/scheduler/scaler files (FSDP:
# optimizer_<rank>/ folders), RNG states (rng_state[_<rank>].pth) and DeepSpeed's global_step*/.
RESUME_STATE = ("optimizer", "scheduler", "scaler", "rng_state", "global_step")


def _step_of(checkpoint: Path) -> int:
    return int(checkpoint.name.rpartition("-")[2])


def _checkpoints(folder: Path) -> list[Path]:
    """``checkpoint-<step>`` folders under ``folder``, oldest first."""
    found = [p for p in folder.glob("checkpoint-*") if p.name.rpartition("-")[2].isdigit()]
    return sorted(found, key=_step_of)


def resumable(checkpoint: Path) -> bool:
    """Whether ``checkpoint`` is complete and holds optimizer state.

    transformers writes the weights, the optimizer and scheduler, the RNG states and
    ``trainer_state.json`` last: a run killed while saving leaves no ``trainer_state.json``, and a
    model-only checkpoint (``resume: false``, or one that was stripped) has no RNG state.
    """
    names = [p.name for p in checkpoint.iterdir()] if checkpoint.is_dir() else []
    return "trainer_state.json" in names and any(n.startswith("rng_state") for n in names)


def resume_point(out_dir: Path) -> Path | None:
    """The newest resumable checkpoint a killed or pruned run left in the stage folder, or None."""
    found = [c for c in _checkpoints(out_dir / CHECKPOINTS_DIR) if resumable(c)]
    return found[-1] if found else None


def strip_resume_state(checkpoint: Path) -> None:
    """Drop what only resuming needs (``RESUME_STATE``); the weights stay for evaluation."""
    for part in checkpoint.iterdir():
        if part.name.startswith(RESUME_STATE):
            if part.is_dir():
                shutil.rmtree(part, ignore_errors=True)
            else:
                part.unlink(missing_ok=True)


def _prune_checkpoints(folder: Path, save_steps: int, final: bool) -> None:
    """Keep resume state in the newest checkpoint only, and none when ``final``; drop the
    checkpoints written for a pruning report alone (steps that are not a multiple of
    ``save_steps``) except the newest of a run that is still going.

    Why: a full checkpoint of a 30B model with AdamW state is about four times its weights; kept
    at every ``save_steps`` it would fill a node's disk, and only the newest is ever resumed.
    """
    found = _checkpoints(folder)
    for i, checkpoint in enumerate(found):
        if i == len(found) - 1 and not final:
            continue
        if save_steps <= 0 or _step_of(checkpoint) % save_steps:
            shutil.rmtree(checkpoint, ignore_errors=True)
        else:
            strip_resume_state(checkpoint)


def _keep_newest_resumable_callback(save_steps: int) -> Any:
    """A TrainerCallback that runs ``_prune_checkpoints`` after every save (main process)."""
    from transformers import TrainerCallback

    class _KeepNewestResumable(TrainerCallback):  # type: ignore[misc]
        def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if state.is_world_process_zero:
                _prune_checkpoints(Path(args.output_dir), save_steps, final=False)

    return _KeepNewestResumable()


def _step_bar_callback() -> Any:
    """transformers' step bar, with the latest loss as its postfix.

    The stock ProgressCallback writes every log dict as a line; we log metrics ourselves.
    """
    from transformers.trainer_callback import ProgressCallback

    class _StepBar(ProgressCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if state.is_world_process_zero and self.training_bar is not None and logs:
                if "loss" in logs:
                    self.training_bar.set_postfix(loss=f"{logs['loss']:.4g}", refresh=False)

    return _StepBar


def make_trainer(model_cfg: Any, samples: Sequence[Sample], training: Any, out_dir: Path) -> Any:
    """An ``SFTTrainer`` for ``model_cfg.path`` on ``samples`` (weights in float32)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback
    from transformers.trainer_callback import ProgressCallback
    from trl import SFTTrainer

    trust = model_cfg.trust_remote_code
    path = resolve_model_path(model_cfg.path)
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust)
    if tokenizer.eos_token_id is None:
        raise ValueError(f"tokenizer of {path} has no eos_token: cannot end samples")
    args = sft_config(training, out_dir, on_cpu(model_cfg))
    # Set up devices (and torch.distributed under `accelerate launch`) before loading: only then
    # does from_pretrained load the weights on rank 0 alone under FSDP's cpu_ram_efficient_loading
    # (else each of 8 ranks holds a float32 copy: ~120 GB of host memory each for a 30B model).
    _ = args.device
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, trust_remote_code=trust)
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=build_dataset(samples, tokenizer.eos_token_id, training.max_length),
        processing_class=tokenizer,
        peft_config=peft_config(training) if training.use_peft else None,
    )
    trainer.remove_callback(PrinterCallback)  # it prints every log line; we log instead
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(_step_bar_callback())
    stream = sft_stream_callback()  # sft/* live into the trial's W&B run, when one is active
    if stream is not None:
        trainer.add_callback(stream)
    # Before pruning's on_save, which may stop the run.
    trainer.add_callback(_keep_newest_resumable_callback(training.save_steps))
    pruning = fidelity.hf_callback()  # a pruned study's intermediate evaluations (ssd.fidelity)
    if pruning is not None:
        trainer.add_callback(pruning)
    return trainer


def run_sft(
    model_cfg: Any, samples: Sequence[Sample], training: Any, out_dir: Path
) -> dict[str, Any]:
    """Fine-tune ``model_cfg.path`` on ``samples`` in this process; write the model to ``out_dir``.

    Weights are trained in float32 (``bf16`` means autocast on GPU) and saved in the base model's
    dtype. LoRA adapters are merged into the saved model; the adapter alone goes to ``adapter/``.

    With ``training.resume`` a run that finds a resumable checkpoint in ``out_dir`` (a killed
    run's, or a pruned trial's: the stage's ``.partial`` folder survives both) continues from it:
    transformers restores weights, optimizer, scheduler, RNG states and the data order, so the
    student equals the one an uninterrupted run trains (tests/test_sft.py).

    Returns:
        Metrics: final ``train_loss``, ``steps``, ``num_samples``, ``completion_tokens``,
        ``train_runtime`` seconds, ``tokens_per_second`` (all tokens, prompt included), ``log``,
        and ``resumed_from_step`` (0: trained from the base model).
    """
    if training.torch_threads > 0:
        torch.set_num_threads(training.torch_threads)
    out_dir.mkdir(parents=True, exist_ok=True)
    trainer = make_trainer(model_cfg, samples, training, out_dir)
    resume = resume_point(out_dir) if training.resume else None
    if resume is not None:
        logger.info("resuming SFT from %s (step %d)", resume, _step_of(resume))
        reporter = fidelity.current()
        if reporter is not None:  # a pruned record counts only this run's steps and tokens
            state = json.loads((resume / "trainer_state.json").read_text())
            reporter.resumed(_step_of(resume), int(state.get("num_input_tokens_seen", 0)))
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(resume) if resume is not None else None)
    runtime = time.perf_counter() - start
    if trainer.accelerator.is_main_process:
        _prune_checkpoints(out_dir / CHECKPOINTS_DIR, training.save_steps, final=True)
    base_dtype = _config_dtype(Path(resolve_model_path(model_cfg.path)))
    _save(trainer, out_dir, training.use_peft, base_dtype)
    log = [h for h in trainer.state.log_history if "loss" in h]
    for entry in log:
        logger.info(
            "sft step %d: loss %.4f lr %.3g", entry["step"], entry["loss"], entry["learning_rate"]
        )
    # Tokens this run trained on: batches x accumulation x batch size rows of the dataset, cycled
    # (a resumed run counts from its checkpoint's step).
    lengths = [len(r) for r in trainer.train_dataset["input_ids"]]
    rows_per_step = training.gradient_accumulation_steps
    rows_per_step *= training.per_device_train_batch_size * trainer.accelerator.num_processes
    first = _step_of(resume) if resume is not None else 0
    rows = range(first * rows_per_step, result.global_step * rows_per_step)
    tokens_seen = sum(lengths[i % len(lengths)] for i in rows)
    return {
        "train_loss": float(result.training_loss),
        "steps": int(result.global_step),
        "resumed_from_step": first,
        "num_samples": len(samples),
        "completion_tokens": sum(len(s.token_ids) + 1 for s in samples),
        "train_runtime": runtime,
        "tokens_per_second": tokens_seen / runtime if runtime > 0 else 0.0,
        "log": log,
    }


def _config_dtype(model_dir: Path) -> torch.dtype | None:
    """The dtype a local checkpoint declares (``dtype`` or the older ``torch_dtype``)."""
    config = model_dir / "config.json"
    if not config.is_file():
        return None
    data = json.loads(config.read_text())
    name = data.get("dtype") or data.get("torch_dtype")
    return {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(name, None)


def _save(trainer: Any, out_dir: Path, use_peft: bool, dtype: Any) -> None:
    """Write a Hugging Face folder vLLM loads: merged weights in ``dtype``, tokenizer, configs."""
    main = trainer.accelerator.is_main_process
    if use_peft:
        if main:
            trainer.model.save_pretrained(out_dir / "adapter")
            merged = trainer.model.merge_and_unload()
            (merged.to(dtype) if dtype is not None else merged).save_pretrained(out_dir)
    elif trainer.accelerator.num_processes == 1:
        if dtype is not None:
            trainer.model.to(dtype)
        trainer.save_model(str(out_dir))
    else:
        # Every rank joins the gather (FSDP FULL_STATE_DICT / ZeRO-3 16-bit); rank 0 gets the full
        # weights, casts them to the base dtype (vLLM would serve float32 as float32) and writes
        # them once, instead of writing float32 and reloading it (~120 GB for a 30B model).
        state = trainer.accelerator.get_state_dict(trainer.model)
        if main:
            if dtype is not None:
                state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
            model = trainer.accelerator.unwrap_model(trainer.model)
            model.save_pretrained(out_dir, state_dict=state)
            if dtype is not None:
                _set_config_dtype(out_dir, dtype)
    if main:
        trainer.processing_class.save_pretrained(out_dir)
    trainer.accelerator.wait_for_everyone()


def _set_config_dtype(out_dir: Path, dtype: torch.dtype) -> None:
    """Make config.json declare the dtype the weights were written in (vLLM's dtype=auto)."""
    config = out_dir / "config.json"
    data = json.loads(config.read_text())
    name = str(dtype).removeprefix("torch.")
    data["dtype" if "dtype" in data or "torch_dtype" not in data else "torch_dtype"] = name
    config.write_text(json.dumps(data, indent=2))


# -- launching ----------------------------------------------------------------------------------
def accelerate_config_path(name: str | None) -> Path | None:
    """A preset name (``fsdp``, ``deepspeed_zero3``) or a path to an accelerate config file."""
    if name is None:
        return None
    path = Path(name)
    if path.suffix in (".yaml", ".yml", ".json") and path.is_file():
        return path
    preset = ACCELERATE_PRESETS / f"{name}.yaml"
    if not preset.is_file():
        names = sorted(p.stem for p in ACCELERATE_PRESETS.glob("*.yaml"))
        raise ValueError(f"training.accelerate_config={name!r}: no such file or preset {names}")
    return preset


def write_resolved(model_cfg: Any, samples: Sequence[Sample], training: Any, out_dir: Path) -> Path:
    """Write the samples and a fully resolved JSON config for ``ssd.backends.sft_worker``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    samples_path = out_dir / SAMPLES_FILE
    with samples_path.open("w") as f:
        for s in samples:
            f.write(json.dumps(s.to_json()) + "\n")
    resolved = {
        "model": dataclasses.asdict(model_cfg),
        "training": dataclasses.asdict(training),
        "samples": str(samples_path),
        "out_dir": str(out_dir),
    }
    path = out_dir / RESOLVED_FILE
    path.write_text(json.dumps(resolved, indent=2))
    return path


def train_sft(
    model_cfg: Any, samples: Sequence[Sample], training: Any, out_dir: Path
) -> dict[str, Any]:
    """Run SFT in this process or, with ``training.launcher=accelerate``, as ``accelerate launch``.

    The spawned ranks read one resolved JSON file, so nothing re-enters Hydra per rank.
    """
    if training.launcher == "in_process":
        return run_sft(model_cfg, samples, training, out_dir)
    if training.launcher != "accelerate":
        raise ValueError(f"training.launcher={training.launcher!r}: expected in_process|accelerate")
    resolved = write_resolved(model_cfg, samples, training, out_dir)
    cmd = [sys.executable, "-m", "accelerate.commands.launch"]
    config = accelerate_config_path(training.accelerate_config)
    if config is not None:
        cmd += ["--config_file", str(config)]
    else:  # plain data parallel; said explicitly so accelerate does not guess
        bf16 = training.bf16 and not on_cpu(model_cfg)
        cmd += ["--num_machines", "1", "--dynamo_backend", "no"]
        cmd += ["--mixed_precision", "bf16" if bf16 else "no"]
        if on_cpu(model_cfg):
            cmd += ["--cpu"]
    cmd += ["--num_processes", str(training.num_processes)]
    cmd += ["-m", "ssd.backends.sft_worker", str(resolved)]
    logger.info("launching: %s", " ".join(cmd))
    subprocess.run(cmd, check=True)
    return json.loads((out_dir / METRICS_FILE).read_text())
