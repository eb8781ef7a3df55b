"""Every config composes and validates; invalid settings fail before compute, naming the key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from ssd.config import ConfigError, RunConfig

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
GROUPS = ("data", "sampling", "training", "evaluation", "tracking", "paths")


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


MODEL_OPTIONS = options("model")
EXPERIMENTS = options("experiment")
SWEEPS = sorted(p.stem for p in (ROOT / "sweeps").glob("*.yaml"))


def _overrides_for_model(model: str) -> list[str]:
    return [f"model={model}"]


@pytest.mark.parametrize("model", MODEL_OPTIONS)
def test_every_model_preset_composes_and_validates(
    compose_cfg: Callable[..., DictConfig], model: str
) -> None:
    run = RunConfig.from_dictconfig(compose_cfg(_overrides_for_model(model)))
    assert run.model.name


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in GROUPS for o in options(g)])
def test_every_group_option_composes(
    compose_cfg: Callable[..., DictConfig], group: str, option: str
) -> None:
    cfg = compose_cfg([f"{group}={option}"])
    assert group in cfg


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_and_validates(
    compose_cfg: Callable[..., DictConfig], experiment: str
) -> None:
    RunConfig.from_dictconfig(compose_cfg([f"experiment={experiment}"]))


@pytest.mark.parametrize("sweep", SWEEPS)
def test_every_sweep_composes(compose_cfg: Callable[..., DictConfig], sweep: str) -> None:
    cfg = compose_cfg([f"+sweep={sweep}"], return_hydra_config=True)
    assert cfg.hydra.sweeper.params, f"sweep {sweep} defines no search space"


def test_paper_notation_reads_like_the_paper(compose_cfg: Callable[..., DictConfig]) -> None:
    run = RunConfig.from_dictconfig(
        compose_cfg(["model=toy", "sampling.temperature=1.6", "evaluation.temperature=0.9"])
    )
    assert run.sampling.temperature == 1.6 and run.evaluation.temperature == 0.9
    assert run.sampling.top_p == 0.85 and run.evaluation.top_p == 0.8  # the paper's toy setting


def test_training_group_choice_wins_over_the_model_preset(
    compose_cfg: Callable[..., DictConfig],
) -> None:
    run = RunConfig.from_dictconfig(compose_cfg(["model=toy", "training=ideal"]))
    assert run.training.method == "ideal"


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("sampling.temperature=0", "sampling.temperature"),
        ("sampling.temperature=-1", "sampling.temperature"),
        ("sampling.top_p=0", "sampling.top_p"),
        ("sampling.top_p=1.2", "sampling.top_p"),
        ("sampling.top_k=-3", "sampling.top_k"),
        ("sampling.n=0", "sampling.n"),
        ("sampling.max_tokens=0", "sampling.max_tokens"),
        ("evaluation.temperature=0", "evaluation.temperature"),
        ("evaluation.top_p=1.01", "evaluation.top_p"),
        ("evaluation.top_k=-2", "evaluation.top_k"),
        ("evaluation.n=0", "evaluation.n"),
        ("evaluation.k=[1,11]", "evaluation.k"),
        ("evaluation.benchmark=mbpp", "evaluation.benchmark"),
        ("evaluation.num_problems=0", "evaluation.num_problems"),
        ("training.max_steps=0", "training.max_steps"),
        ("training.learning_rate=0", "training.learning_rate"),
        ("training.filter.drop_shortest_percent=100", "training.filter.drop_shortest_percent"),
        ("tracking.mode=sometimes", "tracking.mode"),
        ("objective=accuracy", "objective"),
        ("sampling.backend=tpu", "sampling.backend"),
    ],
)
def test_invalid_settings_name_the_key(
    compose_cfg: Callable[..., DictConfig], override: str, key: str
) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        RunConfig.from_dictconfig(compose_cfg(["model=toy", override]))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.template=chatml"], r"data\.template='chatml'.*humaneval_completion"),
        (["evaluation.template=chatml"], r"evaluation\.template='chatml'"),
        (["++evaluation.download=true"], r"'tinyworld' cannot use download=True"),
        (["++evaluation.data_path=/data/lcb"], r"'tinyworld' cannot use data_path="),
        (["evaluation=humaneval", "++evaluation.download=true"], r"'humaneval' cannot use"),
    ],
)
def test_prompt_templates_and_benchmark_options_fail_before_compute(
    compose_cfg: Callable[..., DictConfig], overrides: list[str], message: str
) -> None:
    """Caught at validation, not in the stage that first uses them (after sampling)."""
    with pytest.raises(ConfigError, match=message):
        RunConfig.from_dictconfig(compose_cfg(["model=tiny", *overrides]))


def test_unknown_key_is_rejected(compose_cfg: Callable[..., DictConfig]) -> None:
    with pytest.raises(ConfigError, match="temprature"):
        RunConfig.from_dictconfig(compose_cfg(["model=toy", "+sampling.temprature=1.0"]))


def test_unknown_model_name_fails_at_composition(compose_cfg: Callable[..., DictConfig]) -> None:
    from hydra.errors import MissingConfigException

    with pytest.raises(MissingConfigException, match="model/gpt5"):
        compose_cfg(["model=gpt5"])
