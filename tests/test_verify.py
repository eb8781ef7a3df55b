"""training.filter.verify: samples graded against their prompt's own tests by the real sandbox,
kept counts in results.json, and the equal-compute option (toy and tiny world, real runs)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from ssd.config import ConfigError, RunConfig
from ssd.pipeline import run_trial
from ssd.prompt_sets import load_prompt_set
from ssd.records import Sample
from ssd.tinyworld import tasks
from ssd.tinyworld.benchmark import load_prompts
from ssd.verify import load_passed, prompt_problem, verify_samples

TOY = [
    "model=toy",
    "tracking=none",
    "sampling.n=2000",
    "training.sgd.steps=100",
    "evaluation.num_problems=20",
]
# The tiny world on its real model, cut down: 8 prompts, 2 evaluation problems, short programs.
TINY = [
    "model=tiny",
    "tracking=none",
    "data.num_prompts=8",
    "sampling.batch_size=4",
    "sampling.max_tokens=80",
    "training.max_steps=2",
    "training.per_device_train_batch_size=4",
    "training.logging_steps=1",
    "evaluation.num_problems=2",
    "evaluation.n=2",
    "evaluation.max_tokens=60",
    "evaluation.k=[1]",
    "evaluation.include_ideal=false",
]


VERIFY_EQUAL = ["training.filter.verify=true", "training.filter.equal_compute=true"]


def sample_of(prompt_id: str, index: int, completion: str) -> Sample:
    return Sample(prompt_id, index, "", [], completion, [1], "stop", [{"temperature": 1.0}])


def test_tiny_world_prompts_carry_their_tests_and_the_sandbox_grades_samples(
    tmp_path: Path,
) -> None:
    prompts = load_prompts(n=3, seed=0)
    assert all("test_code" not in m["content"] for p in prompts for m in p.messages)
    task_list = tasks.generate_tasks("ssd_prompt", 3, 0)
    samples = [
        sample_of(p.prompt_id, 0, tasks.reference_solutions(t)[0])  # correct
        for p, t in zip(prompts, task_list, strict=True)
    ] + [sample_of(p.prompt_id, 1, "    return -12345\n") for p in prompts]  # wrong
    info = verify_samples(samples, prompts, tmp_path, timeout_s=5.0, workers=1)
    assert info["checked"] == 6 and info["passed"] == 3
    assert load_passed(tmp_path) == {f"{p.prompt_id}#0" for p in prompts}


def test_prompt_files_with_test_cases_are_verifiable(tmp_path: Path) -> None:
    from ssd.config import DataConfig

    rows = [
        {"question": "Print the input doubled.", "tests": {"inputs": ["2\n"], "outputs": ["4\n"]}},
        {"question": "Print nothing.", "tests": []},
    ]
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    data = DataConfig(name="jsonl", path=str(path), num_prompts=-1, tests_field="tests")
    with_tests, without = load_prompt_set(data)
    assert prompt_problem(without) is None
    problem = prompt_problem(with_tests)
    assert problem is not None and problem.tests[0].output == "4\n"
    good = sample_of(with_tests.prompt_id, 0, "```python\nprint(int(input()) * 2)\n```")
    bad = sample_of(with_tests.prompt_id, 1, "```python\nprint(3)\n```")
    info = verify_samples([good, bad], [with_tests], tmp_path, workers=1)
    assert info["passed"] == 1 and load_passed(tmp_path) == {f"{with_tests.prompt_id}#0"}
    with pytest.raises(ValueError, match="carries no tests"):
        verify_samples([sample_of(without.prompt_id, 0, "x")], [without], tmp_path, workers=1)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["training.filter.equal_compute=true"], "training.filter.equal_compute"),
        (["training.filter.verify=true", "training=ideal"], "training.method"),
        (["training.filter.max_compute_factor=0"], "training.filter.max_compute_factor"),
        (["training.rounds=0"], "training.rounds"),
    ],
)
def test_bad_settings_name_the_key(
    compose_cfg: Callable[..., DictConfig], overrides: list[str], key: str
) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        RunConfig.from_dictconfig(compose_cfg(["model=toy", *overrides]))


def trial(compose_cfg: Callable[..., DictConfig], out: Path, overrides: list[str]) -> dict:
    return run_trial(RunConfig.from_dictconfig(compose_cfg(overrides)), out)


def test_toy_verified_and_equal_compute(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    raw = trial(compose_cfg, tmp_path / "raw", TOY)
    verified = trial(compose_cfg, tmp_path / "v", [*TOY, "training.filter.verify=true"])
    counts = verified["training"]["filter"]
    assert counts["input"] == 2000 and 0 < counts["kept"] < 2000
    assert counts["kept"] + counts["dropped_unverified"] == 2000
    assert verified["rounds"][0]["verify"]["passed"] == counts["kept"]
    assert verified["cache"]["samples"]["hit"]  # verification reuses the raw run's samples
    assert "dropped_unverified" not in raw["training"]["filter"]
    equal = trial(
        compose_cfg,
        tmp_path / "eq",
        [*TOY, *VERIFY_EQUAL, "training.filter.max_compute_factor=4"],
    )
    eq_counts, samples = equal["training"]["filter"], equal["rounds"][0]["samples"]
    # the toy succeeds ~7% of the time: 4x the samples cannot reach 2000 passing ones, so the
    # bound stops it and says so
    assert samples["compute_factor"] == 4 and samples["num_samples"] == 8000
    assert eq_counts["target"] == 2000 and 2 * counts["kept"] < eq_counts["kept"] < 2000
    assert samples["equal_compute_reached"] is False
    assert equal["compute"]["sampled"] == 8000
    # the first 2000 of the larger draws are the raw run's samples (taken from the unit pool)
    assert samples["units_from_pool"] == 2 and samples["units_drawn"] == 2  # 2000-sample units


@pytest.mark.slow
def test_tiny_world_verified_run(compose_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    res = trial(
        compose_cfg,
        tmp_path / "v",
        [*TINY, *VERIFY_EQUAL, "training.filter.max_compute_factor=2"],
    )
    counts, record = res["training"]["filter"], res["rounds"][0]
    assert record["verify"]["checked"] == record["samples"]["num_samples"]
    assert counts["kept"] == record["verify"]["passed"] or counts["kept"] == 8
    assert record["samples"]["compute_factor"] in (1, 2)
    saved = json.loads((tmp_path / "v" / "results.json").read_text())
    assert saved["rounds"][0]["verify"]["by_status"]


@pytest.mark.gpu
def test_vllm_verified_equal_compute_on_the_tiny_world(
    compose_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    """The vLLM path: sampling units through VLLMBackend, verification, equal compute."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    pytest.importorskip("vllm")
    res = trial(
        compose_cfg,
        tmp_path / "v",
        [
            *TINY,
            *VERIFY_EQUAL,
            "sampling.backend=vllm",
            "model.device=cuda",
            "model.max_model_len=512",
            "model.gpu_memory_utilization=0.3",
            "isolate_stages=true",
        ],
    )
    record = res["rounds"][0]
    assert record["verify"]["checked"] == record["samples"]["num_samples"]
    assert res["training"]["filter"]["kept"] <= 8
