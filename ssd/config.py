"""Config schema: dataclasses with defaults and validation, values in ``conf/*.yaml``.

``RunConfig.from_dictconfig`` is the one boundary where Hydra's composed config becomes typed
objects: unknown keys and wrong types fail there, and every ``__post_init__`` validates its
section, so bad settings stop before any compute with the key and the allowed range named
(files are checked next, by ``ssd.preflight``). Each dataclass also declares, as ``CACHE``, which
of its fields change a cached artifact: the stages' cache keys are built from that.
Tests: ``pytest tests/test_configs.py tests/test_preflight.py tests/test_cache_fields.py``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from omegaconf import DictConfig, OmegaConf

from ssd.backends.vllm_limits import check_vllm_settings
from ssd.benchmarks import check_options
from ssd.prompts import TEMPLATES, prompt_template

if TYPE_CHECKING:  # torch stays unimported until compute: a bad config fails in a second
    from ssd.decoding import Decoding

BACKENDS = ("toy", "hf", "vllm")
TOP_K_TIES_CHOICES = ("auto", "keep", "exact")  # auto + ssd.decoding.TOP_K_TIES (torch-free here)
TRAINING_METHODS = ("sgd", "sft", "ideal")
TRACKING_MODES = ("offline", "online", "disabled")
DATA_NAMES = ("toy", "tinyworld", "jsonl", "parquet", "rstar_seed")
DATA_FILES = ("jsonl", "parquet", "rstar_seed")  # the data names read from data.path
# The only stage keys a model preset (conf/model/*.yaml) may set itself: its recommended decoding
# (and the backend that runs it), kept whichever group file is chosen. Everything else of a stage
# comes from the group the preset chooses with ``override /group: choice``, which a command-line
# or experiment ``GROUP=choice`` replaces. Precedence: command line > experiment > model preset >
# group file > schema default (README "Overrides"; tests/test_configs.py checks every preset).
PRESET_RECOMMENDATIONS = {
    "sampling": ("backend", "temperature", "top_k", "top_p"),
    "evaluation": ("temperature", "top_k", "top_p"),
}


class ConfigError(ValueError):
    """A setting outside its allowed range; the message names the key."""


def is_integer(value: Any) -> bool:
    """An int as a config value: YAML and the command line give true/false as bools, not 1/0."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """An int or a float as a config value (a bool is neither)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def exit_invalid(err: Exception) -> NoReturn:
    """How a bad setting ends the `ssd` command, in the CLI's checks and the sweeper's alike:
    one line on stderr and exit status 2 (SystemExit passes through Hydra's instantiate)."""
    sys.stderr.write(f"ssd: invalid config: {err}\n")
    raise SystemExit(2) from None


def _require(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} is invalid: expected {allowed}")


def _check_template(key: str, name: str) -> None:
    _require(name in TEMPLATES, key, name, f"one of {', '.join(TEMPLATES)} (ssd/templates)")


def _check_decoding(section: str, temperature: float, top_k: int, top_p: float) -> None:
    _require(temperature > 0, f"{section}.temperature", temperature, "a temperature > 0")
    _require(0 < top_p <= 1, f"{section}.top_p", top_p, "top_p in (0, 1]")
    _require(top_k >= 0 or top_k == -1, f"{section}.top_k", top_k, "0 or -1 (off) or k >= 1")


@dataclass(frozen=True)
class CacheFields:
    """Which fields of a config section change a cached artifact, and which do not.

    Declared next to each dataclass (its ``CACHE``) and used to build the stage's cache key
    (``payload``): a field in ``affects`` is hashed, one in ``ignores`` is not, so changing it
    reuses the artifact. ``tests/test_cache_fields.py`` fails for a field in neither list.
    """

    affects: tuple[str, ...]
    ignores: tuple[str, ...] = ()


def cache_payload(section: Any) -> dict[str, Any]:
    """The part of ``section`` (a config dataclass) that its ``CACHE`` says changes a result.

    Nested config dataclasses contribute their own payloads, so their ``CACHE`` applies too.
    """
    spec: CacheFields = type(section).CACHE
    out: dict[str, Any] = {}
    for name in spec.affects:
        value = getattr(section, name)
        out[name] = cache_payload(value) if hasattr(type(value), "CACHE") else value
    return out


def field_names(cls: type) -> tuple[str, ...]:
    """The dataclass fields of ``cls`` (what a ``CACHE`` declaration must cover)."""
    return tuple(f.name for f in fields(cls))


@dataclass
class DecodingConfig:
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0

    CACHE: ClassVar[CacheFields] = CacheFields(affects=("temperature", "top_k", "top_p"))


@dataclass
class ModelConfig:
    name: str = "toy"
    path: str | None = None  # HF hub id or local dir; pkg://ssd/... for shipped checkpoints
    dtype: str = "auto"  # auto | float32 | bfloat16 | float16
    chat_template: bool = True  # render prompts with the tokenizer's chat template
    enable_thinking: bool | None = None  # passed to the chat template of thinking models
    # More chat-template arguments, e.g. {reasoning_effort: high} for GPT-OSS.
    chat_template_kwargs: dict[str, Any] = field(default_factory=dict)
    revision: str | None = None  # hub revision (commit or tag); part of the model's identity
    system_prompt: str | None = None
    trust_remote_code: bool = False
    tensor_parallel_size: int = 1  # vLLM
    gpu_memory_utilization: float = 0.9  # vLLM
    max_model_len: int | None = None  # vLLM
    device: str = "auto"  # auto | cpu | cuda
    # The model card's recommended decoding for the base model (paper table), for reference runs.
    base_decoding: DecodingConfig = field(default_factory=DecodingConfig)

    # What the hf/vLLM backends put in every cache key beside the weights' content hash
    # (``ssd.backends.hf.model_identity``): the weights and everything that renders the prompts.
    CACHE: ClassVar[CacheFields] = CacheFields(
        affects=(
            "path",
            "revision",
            "dtype",
            "chat_template",
            "chat_template_kwargs",
            "enable_thinking",
            "system_prompt",
        ),
        ignores=(
            "name",  # a label; the weights are identified by path + content hash
            "trust_remote_code",  # allows code to run; the code is part of the hashed files
            "tensor_parallel_size",  # how vLLM spreads the same model over GPUs
            "gpu_memory_utilization",  # vLLM's KV-cache budget
            "max_model_len",  # vLLM's context limit: a request past it fails, never differs
            "device",  # where it runs
            "base_decoding",  # the model card's decoding, for reference runs only
        ),
    )

    def __post_init__(self) -> None:
        _require(bool(self.name), "model.name", self.name, "a non-empty model name")
        _require(
            self.dtype in ("auto", "float32", "bfloat16", "float16"),
            "model.dtype",
            self.dtype,
            "one of auto, float32, bfloat16, float16",
        )
        _require(
            self.device in ("auto", "cpu", "cuda"), "model.device", self.device, "auto|cpu|cuda"
        )
        _require(
            self.tensor_parallel_size >= 1,
            "model.tensor_parallel_size",
            self.tensor_parallel_size,
            ">= 1",
        )


@dataclass
class DataConfig:
    name: str = "toy"  # toy | tinyworld | jsonl | parquet | rstar_seed
    path: str | None = None  # prompt file or folder (jsonl/parquet/rstar_seed)
    num_prompts: int = 1  # -1: all
    template: str = "ssd_reference"  # prompt template name (ssd/templates/*.jinja)
    question_field: str = "question"
    starter_field: str = "starter_code"
    id_field: str | None = None
    dedupe: bool = True  # whitespace-normalised statement de-duplication (as the paper)
    # Row field with test cases ([{input, output, testtype}]) for training.filter.verify.
    tests_field: str | None = None
    seed: int = 0

    # Every field changes which prompts are sampled or how they read; they enter the samples'
    # cache key through the fingerprint of the prompts they produce (``ssd.prompt_source``).
    CACHE: ClassVar[CacheFields] = CacheFields(
        affects=(
            "name",
            "path",
            "num_prompts",
            "template",
            "question_field",
            "starter_field",
            "id_field",
            "dedupe",
            "seed",
        ),
        # The prompts' tests change no prompt: they enter the verify stage's key (ssd.rounds).
        ignores=("tests_field",),
    )

    def __post_init__(self) -> None:
        _require(self.name in DATA_NAMES, "data.name", self.name, f"one of {', '.join(DATA_NAMES)}")
        _require(
            self.num_prompts > 0 or self.num_prompts == -1,
            "data.num_prompts",
            self.num_prompts,
            "a positive count or -1 (all)",
        )
        _check_template("data.template", self.template)


@dataclass
class SamplingConfig:
    backend: str = "toy"  # toy | hf | vllm
    temperature: float = 0.9  # T_train
    top_k: int = 0  # 0 or -1: off
    top_p: float = 1.0
    n: int = 1  # samples per prompt
    max_tokens: int = 4096
    seed: int = 0
    batch_size: int = 64  # prompts per generate call (hf); shard size for resume
    # Top-k ties at the k-th logit, for every decoding of the run (ssd.decoding.TOP_K_TIES):
    # auto: the engine's own rule (hf/toy keep ties, vLLM keeps exactly k); exact: hf as vLLM.
    top_k_ties: str = "auto"

    # batch_size is keyed: each batch's seed is sampling.seed + its offset in the prompt list
    # (ssd.sampling), so another batch size draws other samples.
    CACHE: ClassVar[CacheFields] = CacheFields(
        affects=(
            "backend",
            "temperature",
            "top_k",
            "top_p",
            "n",
            "max_tokens",
            "seed",
            "batch_size",
            "top_k_ties",  # also in each backend's identity() (evaluations are keyed by it too)
        )
    )

    def __post_init__(self) -> None:
        _require(self.backend in BACKENDS, "sampling.backend", self.backend, f"one of {BACKENDS}")
        _require(
            self.top_k_ties in TOP_K_TIES_CHOICES,
            "sampling.top_k_ties",
            self.top_k_ties,
            f"one of {', '.join(TOP_K_TIES_CHOICES)}",
        )
        _check_decoding("sampling", self.temperature, self.top_k, self.top_p)
        _require(self.n >= 1, "sampling.n", self.n, "a positive count of samples per prompt")
        _require(self.max_tokens >= 1, "sampling.max_tokens", self.max_tokens, "a positive count")
        _require(self.batch_size >= 1, "sampling.batch_size", self.batch_size, "a positive count")

    def decoding(self) -> Decoding:
        from ssd.decoding import Decoding

        return Decoding(self.temperature, max(self.top_k, 0), self.top_p)


@dataclass
class FilterConfig:
    drop_empty: bool = True  # responses with no text
    drop_stubs: bool = True  # one-line responses
    drop_shortest_percent: float = 0.0  # reference code drops the shortest 10% by characters
    verify: bool = False  # keep only samples passing the prompt's own tests (ssd.verify)
    equal_compute: bool = False  # verify: sample more until the kept set is the raw set's size
    max_compute_factor: int = 8  # equal_compute: at most this many times sampling.n per prompt

    CACHE: ClassVar[CacheFields] = CacheFields(
        affects=(
            "drop_empty",
            "drop_stubs",
            "drop_shortest_percent",
            "verify",
            "equal_compute",
            "max_compute_factor",
        )
    )

    def __post_init__(self) -> None:
        _require(
            not self.equal_compute or self.verify,
            "training.filter.equal_compute",
            self.equal_compute,
            "false unless training.filter.verify=true",
        )
        _require(
            self.max_compute_factor >= 1,
            "training.filter.max_compute_factor",
            self.max_compute_factor,
            "a factor >= 1",
        )
        _require(
            0 <= self.drop_shortest_percent < 100,
            "training.filter.drop_shortest_percent",
            self.drop_shortest_percent,
            "a percentage in [0, 100)",
        )


@dataclass
class SGDConfig:
    """The toy student (training.method=sgd): a logit table per state, fitted by Adam on the
    samples' cross-entropy (``ssd.models.toy.fit_student``), started at the teacher."""

    steps: int = 400
    learning_rate: float = 0.1

    CACHE: ClassVar[CacheFields] = CacheFields(affects=("steps", "learning_rate"))

    def __post_init__(self) -> None:
        _require(self.steps >= 1, "training.sgd.steps", self.steps, "a positive count")
        _require(self.learning_rate > 0, "training.sgd.learning_rate", self.learning_rate, "> 0")


BATCHINGS = ("random", "group_by_length", "sequential")  # training.batching


@dataclass
class TrainingConfig:
    """``method`` picks the code: ``sft`` fine-tunes an HF model with TRL (every field here but
    ``sgd``), ``sgd`` fits the toy's logit table (``sgd`` and ``filter`` only), ``ideal`` trains
    nothing (the closed-form student)."""

    method: str = "sft"  # sft (HF models) | sgd (toy logit table) | ideal (no training)
    learning_rate: float = 5e-6
    min_learning_rate: float = 1e-6
    lr_scheduler_type: str = "cosine_with_min_lr"
    warmup_steps: int = 250
    max_steps: int = 2500  # -1: use num_train_epochs
    num_train_epochs: float = 1.0
    per_device_train_batch_size: int = 1
    gradient_accumulation_steps: int = 32
    # How rows form batches (transformers' train_sampling_strategy): "random" shuffles;
    # "group_by_length" shuffles, then batches rows of similar length (less padding: the tiny
    # world's SFT ran 2.6x faster); "sequential" keeps the sampled order.
    batching: str = "random"
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    weight_decay: float = 0.1
    max_length: int = 65536
    save_steps: int = 250
    # A killed SFT run resumes from its newest complete checkpoint in the stage's .partial folder
    # (checkpoints then hold optimizer, scheduler and RNG state until the run finishes; a pruned
    # trial's checkpoint is resumed by the next run of the same student). false: model-only
    # checkpoints, a killed run starts over.
    resume: bool = True
    logging_steps: int = 10
    seed: int = 0
    bf16: bool = False
    gradient_checkpointing: bool = False
    use_peft: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_target_modules: list[str] = field(default_factory=lambda: ["all-linear"])
    launcher: str = "in_process"  # in_process | accelerate
    accelerate_config: str | None = None
    num_processes: int = 1
    torch_threads: int = 0  # 0: torch default
    filter: FilterConfig = field(default_factory=FilterConfig)
    rounds: int = 1  # SSD rounds: round r samples from round r-1's student (ssd.rounds)
    sgd: SGDConfig = field(default_factory=SGDConfig)  # the toy student's settings

    CACHE: ClassVar[CacheFields] = CacheFields(
        affects=(
            "method",
            "learning_rate",
            "min_learning_rate",
            "lr_scheduler_type",
            "warmup_steps",
            "max_steps",
            "num_train_epochs",
            "per_device_train_batch_size",
            "gradient_accumulation_steps",
            "batching",  # which rows share a batch (and so a loss average and a step)
            "adam_beta1",
            "adam_beta2",
            "weight_decay",
            "max_length",
            "seed",
            "bf16",
            "use_peft",
            "lora_r",
            "lora_alpha",
            "lora_dropout",
            "lora_target_modules",
            "launcher",  # in_process vs accelerate: another process layout and precision setup
            "accelerate_config",  # FSDP and ZeRO-3 shard and cast differently
            "num_processes",  # part of the global batch
            "filter",
            "sgd",
        ),
        ignores=(
            "logging_steps",  # how often the loss is printed
            "save_steps",  # intermediate checkpoints; the stage's model is the final one
            "resume",  # a resumed run continues the same optimisation (tests/test_sft.py)
            "torch_threads",  # CPU threads: speed only
            "gradient_checkpointing",  # recomputes activations instead of storing them
            "rounds",  # enters through the chain: round r's samples key holds round r-1's student
        ),
    )
    # The fields each method reads (besides method itself): the rest cannot change its result.
    SGD_FIELDS: ClassVar[tuple[str, ...]] = ("sgd", "filter")

    def cache_payload(self) -> dict[str, Any]:
        """The training stage's key: ``CACHE.affects``, narrowed to what ``method`` reads."""
        payload = cache_payload(self)
        if self.method == "sgd":
            return {k: payload[k] for k in ("method", *self.SGD_FIELDS)}
        payload.pop("sgd")
        return payload

    def __post_init__(self) -> None:
        _require(self.rounds >= 1, "training.rounds", self.rounds, "a positive count of rounds")
        _require(
            self.method != "ideal" or (self.rounds == 1 and not self.filter.verify),
            "training.method",
            self.method,
            "sft or sgd when training.rounds > 1 or training.filter.verify (ideal has no samples)",
        )
        _require(
            self.method in TRAINING_METHODS,
            "training.method",
            self.method,
            f"one of {TRAINING_METHODS}",
        )
        _require(self.learning_rate > 0, "training.learning_rate", self.learning_rate, "> 0")
        _require(
            self.max_steps > 0 or self.max_steps == -1,
            "training.max_steps",
            self.max_steps,
            "a positive count or -1 (epochs)",
        )
        _require(
            self.num_train_epochs > 0, "training.num_train_epochs", self.num_train_epochs, "> 0"
        )
        _require(
            self.batching in BATCHINGS,
            "training.batching",
            self.batching,
            f"one of {BATCHINGS}",
        )
        _require(
            self.per_device_train_batch_size >= 1,
            "training.per_device_train_batch_size",
            self.per_device_train_batch_size,
            "a positive count",
        )
        _require(
            self.gradient_accumulation_steps >= 1,
            "training.gradient_accumulation_steps",
            self.gradient_accumulation_steps,
            "a positive count",
        )
        _require(self.warmup_steps >= 0, "training.warmup_steps", self.warmup_steps, ">= 0")
        _require(
            self.launcher in ("in_process", "accelerate"),
            "training.launcher",
            self.launcher,
            "in_process or accelerate",
        )


@dataclass
class EvaluationConfig:
    benchmark: str = "toy"  # toy | humaneval | tinyworld | lcb_v5 | lcb_v6 | lcb_release_vN
    temperature: float = 0.9  # T_eval
    top_k: int = 0
    top_p: float = 0.8
    n: int = 10  # samples per problem
    k: list[int] = field(default_factory=lambda: [1, 5])
    seed: int = 1234
    max_tokens: int = 4096
    num_problems: int = -1  # -1: all
    template: str = "ssd_reference"
    # Benchmark files: LiveCodeBench's folder of JSONL, another HumanEval .jsonl(.gz); tinyworld
    # has none. A benchmark that cannot use data_path or download refuses them (ssd.benchmarks).
    data_path: str | None = None
    download: bool = False  # LiveCodeBench only: fetch the JSONL files from the hub (network)
    timeout_s: float = 6.0  # per test
    workers: int = 0  # executor processes; 0: one per core
    include_ideal: bool = True  # also evaluate the ideal student beside a trained one
    # Completions kept with their verdicts (completions.jsonl, a W&B table per evaluation).
    keep_completions: int = 100

    CACHE: ClassVar[CacheFields] = CacheFields(
        affects=(
            "benchmark",
            "temperature",
            "top_k",
            "top_p",
            "n",
            "k",
            "seed",
            "max_tokens",
            "num_problems",
            "template",
            "data_path",
            "download",
            "timeout_s",  # a slow program passes or times out
        ),
        ignores=(
            "workers",  # how many processes grade does not change a verdict
            "include_ideal",  # whether another policy is evaluated too
            "keep_completions",  # how many completions are kept for reading, not the scores
        ),
    )

    def __post_init__(self) -> None:
        if self.benchmark != "toy":  # the toy's exact success probability needs no benchmark
            try:
                check_options(self.benchmark, data_path=self.data_path, download=self.download)
            except ValueError as err:
                message = f"evaluation.benchmark={self.benchmark!r}: {err} (or toy)"
                raise ConfigError(message) from None
        _check_template("evaluation.template", self.template)
        _check_decoding("evaluation", self.temperature, self.top_k, self.top_p)
        _require(self.n >= 1, "evaluation.n", self.n, "a positive count of samples per problem")
        _require(bool(self.k), "evaluation.k", self.k, "a non-empty list of k values")
        for k in self.k:
            _require(
                1 <= k <= self.n, "evaluation.k", self.k, f"every k in [1, evaluation.n={self.n}]"
            )
        _require(self.max_tokens >= 1, "evaluation.max_tokens", self.max_tokens, "a positive count")
        _require(
            self.num_problems > 0 or self.num_problems == -1,
            "evaluation.num_problems",
            self.num_problems,
            "a positive count or -1 (all)",
        )
        _require(self.timeout_s > 0, "evaluation.timeout_s", self.timeout_s, "> 0 seconds")
        _require(
            self.keep_completions >= 0,
            "evaluation.keep_completions",
            self.keep_completions,
            "a count >= 0 of completions to keep",
        )

    def decoding(self) -> Decoding:
        from ssd.decoding import Decoding

        return Decoding(self.temperature, max(self.top_k, 0), self.top_p)


@dataclass
class TrackingConfig:
    mode: str = "offline"  # offline | online | disabled
    project: str = "ssd"
    entity: str | None = None
    group: str | None = None  # W&B group; sweeps set it to the study name
    name: str | None = None
    tags: list[str] = field(default_factory=list)
    dir: str | None = None  # where wandb writes its run folders

    CACHE: ClassVar[CacheFields] = CacheFields(
        affects=(), ignores=("mode", "project", "entity", "group", "name", "tags", "dir")
    )

    def __post_init__(self) -> None:
        _require(
            self.mode in TRACKING_MODES, "tracking.mode", self.mode, f"one of {TRACKING_MODES}"
        )


@dataclass
class PathsConfig:
    output_dir: str = "outputs"
    cache_dir: str = "outputs/cache"

    CACHE: ClassVar[CacheFields] = CacheFields(affects=(), ignores=("output_dir", "cache_dir"))


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    objective: str = "ssd.pass@1"  # metric returned to the sweeper: <base|ssd|ideal|delta>.<metric>
    isolate_stages: bool = False  # run each stage in its own process (vLLM never frees GPU memory)
    trial: dict[str, Any] = field(default_factory=dict)  # sweep bookkeeping (number, study)

    # Each stage's key is built from the sections it reads (ssd.pipeline); the rest of the run
    # only says what to report and where to write it.
    CACHE: ClassVar[CacheFields] = CacheFields(
        affects=("model", "data", "sampling", "training", "evaluation"),
        ignores=("tracking", "paths", "objective", "isolate_stages", "trial"),
    )

    def objective_parts(self) -> tuple[list[str], list[str]]:
        """The policies and metrics this run reports (``objective`` = <policy>.<metric>):
        pass@k for each evaluation.k; the toy adds its exact success probability."""
        metrics = [f"pass@{k}" for k in self.evaluation.k]
        if self.evaluation.benchmark == "toy":
            metrics += ["success_probability", *(f"exact_pass@{k}" for k in self.evaluation.k)]
        heads = ["base", "ssd", "delta"]
        if self.training.method != "ideal" and self.evaluation.include_ideal:
            heads.append("ideal")
        return heads, metrics

    def objectives(self) -> list[str]:
        """Every ``objective`` this run can return."""
        heads, metrics = self.objective_parts()
        return [f"{head}.{metric}" for head in heads for metric in metrics]

    def _check_templates(self) -> None:
        """A template that renders only starter code cannot carry a problem that has none."""
        evaluation = self.evaluation
        if evaluation.benchmark.startswith("lcb_"):
            _require(
                prompt_template(evaluation.template).shows_question,
                "evaluation.template",
                evaluation.template,
                f"a template that shows the problem statement for evaluation.benchmark="
                f"{evaluation.benchmark} (its stdin problems have no starter code)",
            )
        if self.data.name == "rstar_seed" and self.training.method != "ideal":
            _require(
                prompt_template(self.data.template).shows_question,
                "data.template",
                self.data.template,
                "a template that shows the problem statement for data.name=rstar_seed",
            )

    def __post_init__(self) -> None:
        head, _, metric = self.objective.partition(".")
        _require(
            head in ("base", "ssd", "ideal", "delta") and bool(metric),
            "objective",
            self.objective,
            "<base|ssd|ideal|delta>.<metric>, e.g. ssd.pass@1",
        )
        heads, metrics = self.objective_parts()
        if self.objective not in self.objectives():
            hint = ""
            if metric.startswith("pass@") and metric[5:].isdigit() and metric not in metrics:
                hint = f"; pass@{metric[5:]} needs {metric[5:]} in evaluation.k (and evaluation.n)"
            raise ConfigError(
                f"objective={self.objective!r} is invalid: expected <{'|'.join(heads)}>."
                f"<{'|'.join(metrics)}> (evaluation.benchmark={self.evaluation.benchmark}, "
                f"evaluation.k={self.evaluation.k}, training.method={self.training.method}){hint}"
            )
        self._check_templates()
        if self.model.name == "toy" or self.sampling.backend == "toy":
            _require(
                self.sampling.backend == "toy" and self.evaluation.benchmark == "toy",
                "sampling.backend/evaluation.benchmark",
                (self.sampling.backend, self.evaluation.benchmark),
                "toy and toy for the toy model (and only for it)",
            )
            _require(
                self.training.method in ("sgd", "ideal"),
                "training.method",
                self.training.method,
                "sgd or ideal for the toy model",
            )
        elif self.training.method == "sgd":
            raise ConfigError(
                "training.method='sgd' is invalid: expected sft or ideal for HF models"
            )
        if self.training.filter.verify and self.data.name in ("jsonl", "parquet", "rstar_seed"):
            _require(
                bool(self.data.tests_field),
                "data.tests_field",
                self.data.tests_field,
                "the row field holding test cases when training.filter.verify=true",
            )

        if self.sampling.backend == "vllm":  # what the pinned vLLM cannot honour
            refusal = check_vllm_settings(self)
            if refusal:
                raise ConfigError(refusal)

    @classmethod
    def from_dictconfig(cls, cfg: DictConfig | dict[str, Any]) -> RunConfig:
        """Validate a composed config (without the ``hydra`` node) into typed objects."""
        container = (
            OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
        )
        assert isinstance(container, dict)
        container = {k: v for k, v in container.items() if k != "hydra"}
        schema = OmegaConf.structured(cls)
        try:
            merged = OmegaConf.merge(schema, container)
        except Exception as err:  # omegaconf's errors name the key; keep them, add context
            raise ConfigError(f"config does not match the schema: {err}") from err
        run = OmegaConf.to_object(merged)
        assert isinstance(run, RunConfig)
        return run
