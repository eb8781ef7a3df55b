"""Every config composes and validates; invalid settings fail before compute, naming the key."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from ssd.config import PRESET_RECOMMENDATIONS, ConfigError, RunConfig

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
GROUPS = ("data", "sampling", "training", "evaluation", "tracking", "paths")


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


MODEL_OPTIONS = options("model")
EXPERIMENTS = options("experiment")
SWEEPS = sorted(p.stem for p in (ROOT / "sweeps").glob("*.yaml"))


STAGE_GROUPS = ("data", "sampling", "training", "evaluation")
PAPER_PRESETS = [m for m in MODEL_OPTIONS if m not in ("toy", "tiny", "tiny-random")]


def _preset(model: str) -> dict:
    return yaml.safe_load((CONF / "model" / f"{model}.yaml").read_text())


def _preset_choices(model: str) -> dict[str, str]:
    """The groups a preset chooses in its defaults list (``override /group: choice``)."""
    out = {}
    for entry in _preset(model).get("defaults", []):
        ((key, value),) = entry.items()
        out[key.removeprefix("override /")] = value
    return out


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
        ("++training.max_steps=0", "training.max_steps"),  # ++: the toy's group omits SFT keys
        ("++training.learning_rate=0", "training.learning_rate"),
        ("training.sgd.steps=0", "training.sgd.steps"),
        ("training.sgd.learning_rate=0", "training.sgd.learning_rate"),
        ("data.name=imagenet", "data.name"),
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


@pytest.mark.parametrize("model", MODEL_OPTIONS)
def test_presets_choose_groups_only_by_override_and_set_only_recommendations(model: str) -> None:
    """The precedence rule's premise: a preset never writes another group's values directly,
    except the keys documented as recommendations (ssd.config.PRESET_RECOMMENDATIONS)."""
    preset = _preset(model)
    assert all(k.startswith("override /") for e in preset.get("defaults", []) for k in e)
    for group in STAGE_GROUPS:
        extra = set(preset.get(group, {})) - set(PRESET_RECOMMENDATIONS.get(group, ()))
        assert not extra, f"model/{model}.yaml sets {group}.{sorted(extra)}: not a recommendation"
        if group != "sampling" or model in PAPER_PRESETS:  # every preset picks its stage groups
            assert group in _preset_choices(model), f"{model} does not choose a {group} group"


@functools.cache
def _compose(overrides: tuple[str, ...]) -> DictConfig:
    """Compose without re-initialising Hydra for every call (the matrix below composes ~250
    configs); nothing is written, so no temporary output folder is needed."""
    if not GlobalHydra.instance().is_initialized():
        initialize_config_dir(version_base="1.3", config_dir=str(CONF))
    return compose(config_name="config", overrides=["tracking=none", *overrides])


def _section(overrides: tuple[str, ...], group: str) -> dict:
    return OmegaConf.to_container(_compose(overrides)[group])


# ~27 compositions per preset: CI checks the example preset, `slow` all the others.
MATRIX = [
    m if m == "qwen3-4b-instruct" else pytest.param(m, marks=pytest.mark.slow)
    for m in MODEL_OPTIONS
]


@pytest.mark.parametrize("model", MATRIX)
def test_a_group_choice_beats_the_preset_except_its_recommendations(model: str) -> None:
    """Must-show 1: ``model=P GROUP=C`` has C's values (the group file composed without any
    preset), except the keys P recommends; and it validates or fails with a one-line
    ConfigError naming a key (e.g. the toy benchmark with a real model)."""
    recommended = {g: _preset(model).get(g, {}) for g in STAGE_GROUPS}
    checked = 0
    for group in STAGE_GROUPS:
        for choice in options(group):
            if choice == _preset_choices(model).get(group):
                continue
            overrides = (f"model={model}", f"{group}={choice}")
            expected = {**_section(("~model", f"{group}={choice}"), group), **recommended[group]}
            assert _section(overrides, group) == expected, " ".join(overrides)
            try:
                RunConfig.from_dictconfig(_compose(overrides))
            except ConfigError as err:
                assert "\n" not in str(err) and "=" in str(err), str(err)
            checked += 1
    assert checked >= 20
    GlobalHydra.instance().clear()


@pytest.mark.parametrize("model", PAPER_PRESETS)
def test_paper_preset_with_humaneval_evaluates_humaneval_at_its_t_eval(
    compose_cfg: Callable[..., DictConfig], model: str
) -> None:
    """The issue's report: ``model=qwen3-4b-instruct evaluation=humaneval`` evaluated lcb_v6."""
    alone = RunConfig.from_dictconfig(compose_cfg([f"model={model}"])).evaluation
    run = RunConfig.from_dictconfig(compose_cfg([f"model={model}", "evaluation=humaneval"]))
    assert run.evaluation.benchmark == "humaneval"
    assert run.evaluation.template == "humaneval_completion"
    assert run.evaluation.decoding() == alone.decoding()  # the preset's recommended T_eval


def test_precedence_command_line_over_experiment_over_preset_over_group(
    compose_cfg: Callable[..., DictConfig],
) -> None:
    """command line > experiment file > model preset > group file > schema default."""
    group = compose_cfg(["~model", "sampling=tinyworld"]).sampling
    assert group.top_p == 1.0 and group.max_tokens == 200  # group file
    preset = RunConfig.from_dictconfig(compose_cfg(["model=tiny"]))
    assert preset.sampling.top_p == 0.9 and preset.training.max_steps == 600  # preset
    exp = RunConfig.from_dictconfig(compose_cfg(["experiment=tiny_teff_law"]))
    assert exp.sampling.top_k == 3 and exp.training.max_steps == 300  # experiment over preset
    cli = RunConfig.from_dictconfig(
        compose_cfg(["experiment=tiny_teff_law", "sampling.top_k=5", "training=sft_smoke"])
    )
    assert cli.sampling.top_k == 5 and cli.training.per_device_train_batch_size == 8
    assert cli.training.max_steps == 300  # the experiment still sets its own max_steps


def test_cfg_job_shows_the_chosen_group_with_the_presets_decoding() -> None:
    """The issue's command, through the real CLI: it printed ``benchmark: lcb_v6``."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "ssd.cli", "model=qwen3-4b-instruct", "evaluation=humaneval"]
    proc = subprocess.run([*cmd, "--cfg", "job"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    evaluation = yaml.safe_load(proc.stdout)["evaluation"]
    assert evaluation["benchmark"] == "humaneval" and evaluation["max_tokens"] == 512
    assert (evaluation["temperature"], evaluation["top_k"], evaluation["top_p"]) == (1.1, 20, 0.8)
