"""SSD students, round by round: sample -> (verify) -> train, with cache keys chained per round.

Round 1 samples the frozen base model (the paper's SSD). With ``training.rounds=R`` round r
samples round r-1's student at the same T_train and truncation, and fine-tunes the *base* model
on those samples (so every round costs the same training; in the ideal limit round r's student is
Decode[T_train] applied r times). Round r's sampling key holds round r-1's training key, so a
changed earlier round recomputes every later one and nothing else.

``training.filter.verify`` adds a verification stage (``ssd.verify``) between sampling and
training; with ``training.filter.equal_compute`` sampling goes on (``sampling.n`` doubled, up to
``max_compute_factor`` times, each size reusing the smaller one's samples through the unit pool)
until the samples that pass are as many as the raw set, and training takes that many.
Test: ``pytest tests/test_rounds.py tests/test_verify.py``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from ssd import prompt_source
from ssd.artifacts import Artifact, cache_key
from ssd.backends.base import Backend, Policy
from ssd.config import RunConfig, SamplingConfig, cache_payload
from ssd.prompts import asks_for_fenced_code
from ssd.records import Prompt, Sample
from ssd.sampling import iter_samples, load_samples, sample
from ssd.training import select_samples, train
from ssd.verify import load_passed, verify_samples

log = logging.getLogger(__name__)

SEEDING = "units-v1"  # ssd.sampling's per-unit seeds: part of every sampling key

Counts = Callable[[Artifact], dict[str, Any]]  # what a computed stage spent (ssd.cost)
StageRunner = Callable[
    [str, str, dict[str, Any], Callable[[Path], dict[str, Any]], Counts], Artifact
]
StageCaller = Callable[..., dict[str, Any]]
# run_train(round, name, payload, fn, counts): the training stage (the pipeline wraps the last
# round's with a pruned study's intermediate reports).
TrainRunner = Callable[
    [int, str, dict[str, Any], Callable[[Path], dict[str, Any]], Counts], Artifact
]


def sampled_tokens(samples_dir: Path) -> int:
    """Completion tokens in a samples folder (read once, when the stage was computed)."""
    return sum(len(s.token_ids) for s in iter_samples(samples_dir))


def _train_tokens(samples_dir: Path, art: Artifact) -> dict[str, Any]:
    """A computed training's counts for ``ssd.cost``: the tokens of the samples it read."""
    return {"tokens": sampled_tokens(samples_dir)}


# Stage bodies: top-level functions so ``isolate_stages`` can run them in a fresh process.
def _sample_stage(
    backend: Backend,
    run: RunConfig,
    prompts: list[Prompt],
    sampling: SamplingConfig,
    policy: Policy,
    pool: Path,
    work: Path,
) -> dict:
    return sample(backend, prompts, sampling, work, policy=policy, pool=pool)


def _verify_stage(
    backend: Backend, run: RunConfig, prompts: list[Prompt], samples_dir: Path, work: Path
) -> dict:
    del backend  # grading needs no model
    return verify_samples(
        load_samples(samples_dir),
        prompts,
        work,
        timeout_s=run.evaluation.timeout_s,
        workers=run.evaluation.workers or None,
    )


def _train_stage(
    backend: Backend,
    run: RunConfig,
    samples_dir: Path,
    verdicts_dir: Path | None,
    target: int | None,
    work: Path,
) -> dict:
    # "No extractable code" means no fenced block: meaningless for toy token sequences and for
    # prompts that do not ask for one (completion-style samples are bare function bodies).
    count_code = run.sampling.backend != "toy" and asks_for_fenced_code(run.data.template)
    passed = load_passed(verdicts_dir) if verdicts_dir is not None else None
    samples: Sequence[Sample] = load_samples(samples_dir)
    return train(backend, samples, run.training, work, count_code, passed=passed, target=target)


def tests_fingerprint(prompts: Sequence[Prompt]) -> str:
    """Hash of the prompts' hidden tests: part of the verify stage's key."""
    digest = hashlib.sha256()
    for p in prompts:
        tests = [p.metadata.get("test_code"), p.metadata.get("tests")]
        digest.update(json.dumps([p.prompt_id, tests], sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def train_rounds(
    run: RunConfig,
    backend: Backend,
    identity: dict[str, Any],
    prompts: list[Prompt],
    run_stage: StageRunner,
    call_stage: StageCaller,
    cache_root: Path,
    evaluate_student: Callable[[int, Policy, dict[str, Any]], dict[str, Any]],
    run_train: TrainRunner | None = None,
) -> list[dict[str, Any]]:
    """Run ``training.rounds`` rounds; returns one record per round (samples, training, ssd).

    ``run_stage(name, stage, payload, fn, counts)`` builds a cached artifact and records it
    (``counts``: what a computed stage spent, for ``ssd.cost``); ``run_train`` runs a training
    stage the same way (default: ``run_stage``);
    ``call_stage(body, backend, run, *args)`` runs a stage body (in-process or isolated);
    ``evaluate_student(round, policy, policy_id)`` returns the student's evaluation metrics.
    """
    records: list[dict[str, Any]] = []
    policy, policy_id = Policy(), {"kind": "base"}
    rules = run.training.filter
    for r in range(1, run.training.rounds + 1):
        verify_art: Artifact | None = None
        tag = "" if r == 1 else f"_r{r}"
        raw_size = len(prompts) * run.sampling.n
        factor, kept = 1, 0
        while True:
            sampling = replace(run.sampling, n=run.sampling.n * factor)
            keyed = cache_payload(sampling)  # SamplingConfig.CACHE
            # Units are keyed by their own batch of prompts and sample block: n and batch_size
            # do not split the pool (ssd.sampling).
            family = {
                "model": identity,
                "policy": policy_id,
                "seeding": SEEDING,
                "sampling": {k: v for k, v in keyed.items() if k not in ("batch_size", "n")},
            }
            pool = cache_root / "sample_units" / cache_key(family)
            payload = {
                **family,
                "prompts": prompt_source.fingerprint(prompts),
                "sampling": keyed,
            }
            samples_art = run_stage(
                f"samples{tag}" if factor == 1 else f"samples{tag}_x{factor}",
                "samples",
                payload,
                partial(call_stage, _sample_stage, backend, run, prompts, sampling, policy, pool),
                lambda art: {"tokens": sampled_tokens(art.path)},
            )
            if not rules.verify:
                break
            verify_art = run_stage(
                f"verify{tag}" if factor == 1 else f"verify{tag}_x{factor}",
                "verify",
                {
                    "samples": samples_art.key,
                    "tests": tests_fingerprint(prompts),
                    "timeout_s": run.evaluation.timeout_s,
                },
                partial(call_stage, _verify_stage, backend, run, prompts, samples_art.path),
                lambda art: {},
            )
            if not rules.equal_compute:
                break
            kept = len(
                select_samples(
                    load_samples(samples_art.path), rules, passed=load_passed(verify_art.path)
                )[0]
            )
            if kept >= raw_size or factor * 2 > rules.max_compute_factor:
                break
            log.info("equal compute: %d of %d kept at %dx; sampling more", kept, raw_size, factor)
            factor *= 2
        verdicts_dir = verify_art.path if verify_art is not None else None
        target = raw_size if rules.equal_compute else None
        trainer: TrainRunner = run_train or (
            lambda r, name, payload, fn, counts: run_stage(name, "train", payload, fn, counts)
        )
        train_samples = samples_art.path
        train_art = trainer(
            r,
            f"train{tag}",
            {
                "model": identity,
                "samples": samples_art.key,
                **({"verify": verify_art.key, "target": target} if verify_art else {}),
                "training": run.training.cache_payload(),
            },
            partial(call_stage, _train_stage, backend, run, samples_art.path, verdicts_dir, target),
            partial(_train_tokens, train_samples),
        )
        policy = Policy(checkpoint=str(train_art.path))
        policy_id = {"kind": "trained", "train": train_art.key}
        summary = {**samples_art.manifest["summary"], "compute_factor": factor}
        if rules.equal_compute:
            summary["equal_compute_target"] = raw_size
            summary["equal_compute_reached"] = kept >= raw_size
        record = {
            "round": r,
            "samples": summary,
            "training": train_art.manifest["summary"],
            "ssd": evaluate_student(r, policy, policy_id),
            "train_key": train_art.key,
        }
        if verify_art is not None:
            record["verify"] = verify_art.manifest["summary"]
        records.append(record)
    return records


def compute_spent(records: Sequence[dict[str, Any]], run: RunConfig) -> dict[str, Any]:
    """What a trial's students cost, whether or not the cache served it: samples and completion
    tokens drawn (every round, every equal-compute extra), training steps and rows."""
    rows_per_step = (
        run.training.per_device_train_batch_size
        * run.training.gradient_accumulation_steps
        * run.training.num_processes
    )
    steps = sum(int(r["training"].get("steps", 0)) for r in records)
    return {
        "rounds": len(records),
        "sampled": sum(int(r["samples"]["num_samples"]) for r in records),
        "sampled_tokens": sum(int(r["samples"].get("completion_tokens", 0)) for r in records),
        "train_steps": steps,
        "train_rows": steps * rows_per_step,
    }
