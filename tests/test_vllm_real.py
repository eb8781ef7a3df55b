"""Our vLLM code against the real vLLM package, on CPU (``make check-vllm``; skipped without vLLM).

Checks what a GPU run would hit first, with vLLM's own classes: ``SamplingParams`` for every
vLLM preset and sweep corner (and vLLM's own errors for what we refuse), both logits-processor
classes loaded by name through vLLM's own loaders and run on a batch, ``LLM`` arguments against
``EngineArgs``, and the prompt and output types ``VLLMBackend`` reads. ``SSD_REQUIRE_VLLM=1``
(set by ``make check-vllm``) turns a missing vLLM into a failure instead of a skip.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from omegaconf import DictConfig

if os.environ.get("SSD_REQUIRE_VLLM"):
    import vllm
else:
    vllm = pytest.importorskip("vllm")

from packaging.specifiers import SpecifierSet  # noqa: E402
from vllm.exceptions import VLLMValidationError  # noqa: E402

from ssd.backends.base import Policy  # noqa: E402
from ssd.backends.vllm import (  # noqa: E402
    VLLMBackend,
    plan_decoding,
    samples_from_outputs,
    sampling_params_kwargs,
)
from ssd.backends.vllm_limits import (  # noqa: E402
    MAX_TEMPERATURE,
    MIN_TEMPERATURE,
    VLLM_RANGE,
    VLLM_TOP_K_TIES,
)
from ssd.backends.vllm_processor import V1_NAME, V2_NAME, processor_for_runner  # noqa: E402
from ssd.config import RunConfig  # noqa: E402
from ssd.decoding import Decoding, chain_logprobs  # noqa: E402
from ssd.records import Prompt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VLLM_PRESETS = sorted(
    p.stem for p in (ROOT / "conf" / "model").glob("*.yaml") if "backend: vllm" in p.read_text()
)
PRE = (Decoding(1.6, 20, 0.8),)  # a truncating T_train: the processor path


def test_installed_vllm_is_in_the_pinned_range() -> None:
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = extra["optional-dependencies"]["vllm"][0].removeprefix("vllm")
    assert SpecifierSet(pinned) == SpecifierSet(VLLM_RANGE)
    assert vllm.__version__ in SpecifierSet(VLLM_RANGE), vllm.__version__


@pytest.mark.parametrize("preset", VLLM_PRESETS)
def test_every_vllm_preset_builds_sampling_params(
    compose_cfg: Callable[..., DictConfig], preset: str
) -> None:
    run = RunConfig.from_dictconfig(compose_cfg([f"model={preset}"]))
    train, evaluation = run.sampling.decoding(), run.evaluation.decoding()
    chains = [[train], [evaluation], [train, evaluation]]
    for chain in chains:
        plan = plan_decoding(chain)
        kwargs = sampling_params_kwargs(
            plan.decoding, n=run.evaluation.n, max_tokens=512, seed=2**63 - 1, pre=plan.pre
        )
        params = vllm.SamplingParams(**kwargs)
        # vLLM keeps what we asked for: nothing raised, clamped or reset
        assert params.temperature == pytest.approx(plan.decoding.temperature)
        assert params.top_k in (plan.decoding.top_k, -1, 0) and params.top_p == plan.decoding.top_p
        assert params.n == run.evaluation.n and params.seed == 2**63 - 1


@pytest.mark.parametrize(
    "chain",
    [
        [Decoding(2.0), Decoding(1.5, 20, 0.8)],  # paper_grid corner: T_eff 3.0
        [Decoding(3.0)],  # sweeps/teff upper end
        [Decoding(0.1), Decoding(0.05)],  # 0.005: vLLM would raise it to 0.01
        [Decoding(1.6, 20, 0.8), Decoding(2.5, 0, 0.95)],
    ],
)
def test_temperatures_outside_vllms_range_never_reach_sampling_params(
    chain: list[Decoding],
) -> None:
    t_product = float(np.prod([d.temperature for d in chain]))
    naive = Decoding(t_product, chain[-1].top_k, chain[-1].top_p)
    if t_product > MAX_TEMPERATURE:  # what the old mapping sent: vLLM's own error
        with pytest.raises(VLLMValidationError, match="temperature must be in"):
            vllm.SamplingParams(**sampling_params_kwargs(naive, n=1, max_tokens=8, seed=0))
    else:  # vLLM silently changes it
        params = vllm.SamplingParams(**sampling_params_kwargs(naive, n=1, max_tokens=8, seed=0))
        assert params.temperature == MIN_TEMPERATURE != t_product
    plan = plan_decoding(chain)
    params = vllm.SamplingParams(
        **sampling_params_kwargs(plan.decoding, n=4, max_tokens=8, seed=0, pre=plan.pre)
    )
    assert MIN_TEMPERATURE <= params.temperature == plan.decoding.temperature <= MAX_TEMPERATURE
    assert params.extra_args["ssd_pre"]  # the processor tempers


def test_what_we_refuse_is_what_vllm_refuses_or_changes() -> None:
    with pytest.raises(VLLMValidationError, match="n must be 1 when using greedy"):
        vllm.SamplingParams(**sampling_params_kwargs(Decoding(0.0), n=2, max_tokens=8, seed=0))
    low = vllm.SamplingParams(**sampling_params_kwargs(Decoding(0.005), n=1, max_tokens=8, seed=0))
    assert low.temperature == MIN_TEMPERATURE
    ok = vllm.SamplingParams(**sampling_params_kwargs(Decoding(0.0), n=1, max_tokens=8, seed=0))
    assert ok.temperature == 0.0


def test_llm_arguments_are_engine_arguments() -> None:
    from vllm.engine.arg_utils import EngineArgs

    fields = {f.name for f in dataclasses.fields(EngineArgs)}
    backend = VLLMBackend(_model_cfg())
    assert set(backend.llm_kwargs("/ckpt")) | {"logits_processors"} <= fields


def test_processor_classes_load_by_name_through_vllms_loaders() -> None:
    from vllm.v1.sample.logits_processor import _load_logitsprocs_by_fqcns
    from vllm.v1.worker.gpu.sample.logits_processor import (
        build_custom_logits_processors_params_validator,
    )

    (v1_cls,) = _load_logitsprocs_by_fqcns([V1_NAME])
    assert v1_cls.__name__ == "SSDTargetProcessorV1"
    validate = build_custom_logits_processors_params_validator([V2_NAME])
    good = vllm.SamplingParams(
        **sampling_params_kwargs(Decoding(1.1), n=2, max_tokens=8, seed=0, pre=PRE)
    )
    validate(good)
    bad = vllm.SamplingParams(temperature=1.0, extra_args={"ssd_pre": "T=2"})
    with pytest.raises(VLLMValidationError, match="ssd_pre"):
        validate(bad)
    # the V1 class is refused by the V2 loader, as vLLM's default runner would
    with pytest.raises(ValueError, match="not a subclass"):
        build_custom_logits_processors_params_validator([V1_NAME])
    os.environ.pop("VLLM_USE_V2_MODEL_RUNNER", None)
    assert processor_for_runner() == (V2_NAME, "v2")
    os.environ["VLLM_USE_V2_MODEL_RUNNER"] = "0"
    try:
        assert processor_for_runner() == (V1_NAME, "v1")
    finally:
        os.environ.pop("VLLM_USE_V2_MODEL_RUNNER")


def _params(pre: tuple[Decoding, ...]) -> Any:
    return vllm.SamplingParams(
        **sampling_params_kwargs(Decoding(1.1, 20, 0.8), n=1, max_tokens=8, seed=0, pre=pre)
    )


def test_v2_processor_rewrites_only_its_requests_rows() -> None:
    from vllm.v1.worker.gpu.sample.logits_processor import LogitsContext

    from ssd.backends.vllm_processor import SSDTargetProcessor

    proc = SSDTargetProcessor(None, None)
    assert proc.add_request(5, _params(PRE)) is True
    assert proc.add_request(2, _params(())) is False
    logits = torch.randn(3, 300, generator=torch.Generator().manual_seed(0))
    slots = np.array([2, 5, 7])
    ctx = LogitsContext(
        expanded_idx_mapping=torch.tensor(slots),
        idx_mapping=torch.tensor(slots),
        idx_mapping_np=slots,
        expanded_local_pos=torch.zeros(3, dtype=torch.long),
        input_ids=torch.zeros(3, dtype=torch.long),
        pos=torch.zeros(3, dtype=torch.long),
        seq_lens_upper_bound_np=np.ones(3, dtype=np.int64),
    )
    out = proc.apply(logits.clone(), ctx)
    want = chain_logprobs(logits[1], PRE, VLLM_TOP_K_TIES).float()
    assert torch.allclose(out[1], want) and int(torch.isfinite(out[1]).sum()) <= 20
    assert torch.equal(out[0], logits[0]) and torch.equal(out[2], logits[2])
    assert proc.add_request(5, _params(())) is False  # a recycled slot loses the old chain
    assert torch.equal(proc.apply(logits.clone(), ctx), logits)


def test_v1_processor_through_vllms_batch_updates() -> None:
    from vllm.v1.sample.logits_processor import BatchUpdate

    from ssd.backends.vllm_processor import SSDTargetProcessorV1

    proc = SSDTargetProcessorV1(None, torch.device("cpu"), False)
    assert proc.is_argmax_invariant() is False
    added = [(0, _params(())), (1, _params(PRE))]
    proc.update_state(
        BatchUpdate(
            batch_size=2, removed=[], added=[(i, p, [1, 2], []) for i, p in added], moved=[]
        )
    )
    logits = torch.randn(2, 300, generator=torch.Generator().manual_seed(1))
    out = proc.apply(logits.clone())
    assert torch.equal(out[0], logits[0])
    assert torch.allclose(out[1], chain_logprobs(logits[1], PRE, VLLM_TOP_K_TIES).float())


def test_prompt_and_output_types() -> None:
    from vllm.inputs import TokensPrompt
    from vllm.outputs import CompletionOutput, RequestOutput

    request: TokensPrompt = {"prompt_token_ids": [1, 2, 3]}  # what generate() sends
    assert set(request) <= set(TokensPrompt.__annotations__)
    fields = {f.name for f in dataclasses.fields(CompletionOutput)}
    assert {"index", "text", "token_ids", "finish_reason"} <= fields
    comps = [
        CompletionOutput(index=1, text="b", token_ids=[7, 2], cumulative_logprob=None,
                         logprobs=None, finish_reason="stop"),
        CompletionOutput(index=0, text="a", token_ids=[5, 6], cumulative_logprob=None,
                         logprobs=None, finish_reason="length"),
    ]  # fmt: skip
    out = RequestOutput(
        request_id="0", prompt=None, prompt_token_ids=[1, 2, 3], prompt_logprobs=None,
        outputs=comps, finished=True,
    )  # fmt: skip
    prompt = Prompt("p0", [{"role": "user", "content": "x"}])
    samples = samples_from_outputs(
        [prompt], [("x", [1, 2, 3])], [out], [2], Policy(pre=PRE).chain(Decoding(1.1))
    )
    assert [(s.sample_index, s.token_ids, s.finish_reason) for s in samples] == [
        (0, [5, 6], "length"),
        (1, [7], "stop"),
    ]


def test_identity_records_the_installed_vllm(tmp_path: Path) -> None:
    engine = VLLMBackend(_model_cfg(str(tmp_path))).identity()["engine"]
    assert engine["name"] == "vllm" and engine["version"] == vllm.__version__
    assert engine["top_k_ties"] == VLLM_TOP_K_TIES


def _model_cfg(path: str = "/nonexistent/model") -> Any:
    from ssd.config import ModelConfig

    return ModelConfig(name="m", path=path, dtype="bfloat16", device="cuda")
