"""One SSD trial: sample -> train -> evaluate the base and the SSD model, with cached stages.

Every stage's artifact is content-addressed (``ssd.artifacts``): changing only the evaluation
settings reuses the samples and the trained model, changing truncation resamples. Both the base
and the SSD model are evaluated under the same evaluation settings, so every result carries its
own baseline; with a trained student the ideal student (``training=ideal``) is scored beside it.
Writes ``results.json`` into the run folder and returns the configured objective.
Test: ``pytest tests/test_pipeline.py``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ssd import cost, fidelity, prompt_source, tracking
from ssd.artifacts import Artifact, Cache, cache_key, write_json_atomic
from ssd.backends import load_backend
from ssd.backends.base import Backend, Policy
from ssd.config import RunConfig, cache_payload, is_number
from ssd.decoding import Decoding
from ssd.environment import environment
from ssd.evaluation.stage import evaluate
from ssd.records import RESULTS_FILE
from ssd.rounds import compute_spent, train_rounds
from ssd.stage_process import run_in_process
from ssd.study_link import StudyLink

log = logging.getLogger(__name__)


def _eval_payload(
    run: RunConfig, identity: dict[str, Any], policy_id: dict[str, Any]
) -> dict[str, Any]:
    # EvaluationConfig.CACHE says which settings change a verdict (not workers, include_ideal).
    return {"model": identity, "policy": policy_id, "evaluation": cache_payload(run.evaluation)}


class _Stages:
    """Runs stages through the cache and records keys, hits and timings for results.json."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self.cache_info: dict[str, dict[str, Any]] = {}
        self.timings: dict[str, float] = {}
        self.costs: dict[str, dict[str, float]] = {}  # ssd.cost blocks; a cache hit costs 0

    def run(
        self,
        name: str,
        stage: str,
        payload: dict[str, Any],
        fn: Callable[[Path], dict[str, Any]],
        counts: Callable[[Artifact], dict[str, Any]] = lambda art: {},
    ) -> Artifact:
        start = time.time()
        artifact = self.cache.build(stage, payload, fn)
        self.timings[name] = round(time.time() - start, 3)
        summary = artifact.manifest.get("summary", {})
        extra = {} if artifact.hit else counts(artifact)
        self.costs[name] = cost.stage_cost(stage, artifact.hit, self.timings[name], summary, extra)
        self.cache_info[name] = {
            "key": artifact.key,
            "hit": artifact.hit,
            "path": str(artifact.path),
        }
        log.info(
            "%s: %s (%s, %.1fs)",
            name,
            "cache hit" if artifact.hit else "computed",
            artifact.key,
            self.timings[name],
        )
        return artifact


# Stage bodies: top-level functions so ``isolate_stages`` can run them in a fresh process
# (sampling, verification and training: ssd.rounds).
def _evaluate_stage(backend: Backend, run: RunConfig, policy: Policy, work: Path) -> dict:
    return evaluate(backend, policy, run.evaluation, work)


def _isolated_entry(
    stage: Callable[..., dict], backend: Backend, run: RunConfig, *args: Any
) -> dict:
    """Runs in a spawned process on its own copy of the backend, so its GPU memory dies with
    the process. The copy is the parent's backend object, pickled before it loaded any model
    (with every stage isolated the parent only asks it for ``identity()``)."""
    return stage(backend, run, *args)


def _call_stage(
    stage: Callable[..., dict], backend: Backend, run: RunConfig, *args: Any
) -> dict[str, Any]:
    if not run.isolate_stages:
        return stage(backend, run, *args)
    # Non-daemonic: vLLM starts child processes, which a (daemonic) Pool worker may not.
    return run_in_process(
        _isolated_entry, stage, backend, run, *args, name=stage.__name__.strip("_")
    )


def _evaluate_policy(
    stages: _Stages,
    name: str,
    backend: Backend,
    run: RunConfig,
    identity: dict[str, Any],
    policy: Policy,
    policy_id: dict[str, Any],
) -> dict[str, Any]:
    art = stages.run(
        f"eval_{name}",
        "eval",
        _eval_payload(run, identity, policy_id),
        lambda work: _call_stage(_evaluate_stage, backend, run, policy, work),
        lambda art: {
            "programs": int(art.manifest["summary"].get("num_problems", 0)) * run.evaluation.n
        },
    )
    metrics = dict(art.manifest["summary"])
    metrics["eval_dir"] = str(art.path)
    return metrics


def _delta(ssd: dict[str, Any], base: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(ssd[k]) - float(base[k])
        for k, v in ssd.items()
        if k in base and is_number(v) and k != "num_problems"
    }


def run_trial(
    run: RunConfig, out_dir: Path, backend: Backend | None = None, link: StudyLink | None = None
) -> dict[str, Any]:
    """Run one SSD trial and write ``results.json`` into ``out_dir``.

    Args:
        run: the validated run config.
        out_dir: the run folder (Hydra's output dir for the CLI).
        backend: a ready backend (tests); built from the config when None.
        link: the sweep's line to this trial (``ssd.study_link``); with a pruner, training
            reports intermediate scores and may raise ``optuna.TrialPruned`` (``ssd.fidelity``).

    Returns:
        The results dict; ``results["objective"]`` is what a sweeper optimises.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    backend = backend or load_backend(run.model, run.sampling.backend, run.sampling.top_k_ties)
    identity = backend.identity()
    # Absolute: checkpoints and eval folders recorded in results.json must not depend on the cwd.
    stages = _Stages(Cache(Path(run.paths.cache_dir).resolve()))
    train_decoding = run.sampling.decoding()
    results: dict[str, Any] = {}

    # --- base model under the evaluation settings (own cache entry: decode-only sweeps share it)
    results["base"] = _evaluate_policy(
        stages, "base", backend, run, identity, Policy(), {"kind": "base"}
    )

    # --- the SSD model: ideal (closed form) or trained on its own samples
    ideal = Policy(pre=(train_decoding,))
    ideal_id: dict[str, Any] = {"kind": "ideal", "train_decoding": train_decoding.as_dict()}
    if train_decoding == Decoding(1.0):  # T 1, no truncation: the target is the base itself
        ideal, ideal_id = Policy(), {"kind": "base"}  # so its evaluation is the base's (cached)
    if run.training.method == "ideal":
        results["ssd"] = _evaluate_policy(stages, "ssd", backend, run, identity, ideal, ideal_id)
    else:
        prompts = prompt_source.load_prompts(run.data, run.model, run.evaluation)

        def evaluate_student(r: int, policy: Policy, policy_id: dict[str, Any]) -> dict[str, Any]:
            name = "ssd" if r == run.training.rounds else f"ssd_r{r}"
            return _evaluate_policy(stages, name, backend, run, identity, policy, policy_id)

        def run_train(
            r: int,
            name: str,
            payload: dict[str, Any],
            fn: Callable[[Path], dict[str, Any]],
            counts: Callable[[Artifact], dict[str, Any]],
        ) -> Artifact:
            """The last round's training reports to a pruned study (``ssd.fidelity``)."""
            if r != run.training.rounds:
                return stages.run(name, "train", payload, fn, counts)
            train_key = cache_key({"stage": "train", **payload})
            work = stages.cache.path("train", train_key).with_name(f"{train_key}.partial")
            prior = list(stages.costs.values())
            with fidelity.reporting(link, run, backend, work, out_dir, prior) as reporter:
                art = stages.run(name, "train", payload, fn, counts)
            if reporter is not None:
                done = reporter.finish()
                results["intermediate"] = done["intermediate"]
                stages.costs["fidelity_evals"] = done["cost"]
                # They ran inside the training stage: its seconds keep only the training's own.
                spent = stages.costs.get(name)
                if spent is not None:
                    for key in ("wall_s", "gpu_s"):
                        left = float(spent.get(key, 0)) - float(done["cost"].get(key, 0))
                        spent[key] = round(max(left, 0.0), 3)
            return art

        rounds = train_rounds(
            run,
            backend,
            identity,
            prompts,
            stages.run,
            _call_stage,
            stages.cache.root,
            evaluate_student,
            run_train,
        )
        results["training"] = rounds[-1]["training"]
        results["ssd"] = rounds[-1]["ssd"]
        results["rounds"] = rounds
        results["compute"] = compute_spent(rounds, run)
        if run.evaluation.include_ideal:
            results["ideal"] = _evaluate_policy(
                stages, "ideal", backend, run, identity, ideal, ideal_id
            )

    # --- summary
    results["delta"] = _delta(results["ssd"], results["base"])
    results.update(
        t_train=run.sampling.temperature,
        t_eval=run.evaluation.temperature,
        t_eff=run.sampling.temperature * run.evaluation.temperature,
        cache=stages.cache_info,
        timings=stages.timings,
        cost={**cost.total_cost(stages.costs.values()), "stages": stages.costs},
        config=asdict(run),
        environment=environment(),
    )
    head, _, metric = run.objective.partition(".")
    if metric not in results.get(head, {}):
        raise KeyError(f"objective={run.objective!r}: {head} has no metric {metric!r}")
    results["objective_name"] = run.objective
    results["objective"] = float(results[head][metric])
    write_json_atomic(out_dir / RESULTS_FILE, results)
    return results


def _lift_pruned(error: Exception, folder: Path, job_dir: Path) -> None:
    """A nested trial pruned while training for its first inner point: that point's pruned
    record (step, value, what it spent) becomes the job's results.json, the file the sweeper
    reads for the trial's cost and W&B for its state; else the study's totals miss its spend."""
    record = folder / RESULTS_FILE
    if type(error).__name__ == "TrialPruned" and record.is_file() and folder != job_dir:
        write_json_atomic(job_dir / RESULTS_FILE, json.loads(record.read_text()))


def run_tracked(
    run: RunConfig, out_dir: Path, backend: Backend | None = None, link: StudyLink | None = None
) -> dict[str, Any]:
    """``run_trial`` inside a W&B run (group = experiment or study, job_type = trial).

    The run gets the SFT curves, a completions table per evaluation, stage timings and costs,
    and the metrics (``ssd.tracking.log_trial``); its config is the whole ``RunConfig``, so every
    trial has the same keys for W&B's parallel coordinates and group-by. With a ``link`` whose
    sweep nests (``hydra.sweeper.inner``), the job is an outer trial: ``ssd.nested.run_nested``
    runs the inner T_eval search, each point a W&B step.
    """
    trial = run.trial or {}
    name = trial.get("name") or out_dir.name
    with tracking.open_run(
        run.tracking,
        name=str(name),
        group=trial.get("study"),
        job_type="trial",
        # `trial` with the same keys in and out of a sweep (W&B compares runs by config keys).
        config={**asdict(run), "trial": {"study": None, "number": None, **trial, "name": name}},
        dir=Path(run.tracking.dir or out_dir),
    ) as wb:
        try:
            if link is not None and link.inner:
                from ssd.nested import run_nested

                backend = backend or load_backend(
                    run.model, run.sampling.backend, run.sampling.top_k_ties
                )

                def point(cfg: RunConfig, folder: Path) -> dict[str, Any]:
                    try:
                        res = run_trial(cfg, folder, backend, link)
                    except Exception as e:
                        _lift_pruned(e, folder, out_dir)
                        raise
                    inner = {k: res[k] for k in ("t_eval", "objective")}
                    tracking.log_metrics(wb, {"inner": inner})
                    return res

                results = run_nested(run, out_dir, link.inner, point)
            else:
                results = run_trial(run, out_dir, backend, link)
        except Exception as e:
            pruned = out_dir / RESULTS_FILE
            if type(e).__name__ == "TrialPruned" and pruned.is_file():  # ssd.fidelity wrote it
                tracking.log_pruned(wb, json.loads(pruned.read_text()))
            raise
        tracking.log_trial(wb, results)
    return results
