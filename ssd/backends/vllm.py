"""vLLM backend (GPU, optional extra ``pip install -e '.[vllm]'``): offline ``LLM.generate``.

Every request gets explicit ``SamplingParams`` (never the checkpoint's ``generation_config``,
never vLLM's 16-token default) and its own seed derived from the run seed and its prompt id, so a
prompt's samples do not depend on how prompts are batched. Prompts are rendered by the same
``render_prompt`` as the hf backend and sent as token ids, so the stored prompt text and ids are
exactly what the model saw. ``training=ideal`` (``Policy.pre``): see ``plan_decoding`` and
``ssd.backends.vllm_processor``. What vLLM refuses or changes is in ``ssd.backends.vllm_limits``.
vLLM never frees GPU memory reliably: run each stage in its own process (``isolate_stages``).
Test (pure parts, no vLLM needed): ``pytest tests/test_vllm_backend.py``; against the real
package: ``make check-vllm``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssd.backends.base import Policy
from ssd.backends.hf import (
    _local_dir,
    batch_seed,
    engine_identity,
    model_identity,
    render_prompt,
    resolve_model_path,
    stop_token_ids,
)
from ssd.backends.vllm_limits import (
    MAX_TEMPERATURE,
    MIN_TEMPERATURE,
    PRE_KEY,
    TIES_KEY,
    VLLM_TOP_K_TIES,
)
from ssd.decoding import Decoding
from ssd.records import Prompt, Sample

logger = logging.getLogger(__name__)

INSTALL_HINT = "the vllm backend needs vLLM on a CUDA machine: pip install -e '.[vllm]'"


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as err:
        raise ImportError(INSTALL_HINT) from err
    return vllm


def truncates(decoding: Decoding) -> bool:
    return decoding.top_k > 0 or decoding.top_p < 1.0


@dataclass(frozen=True)
class DecodingPlan:
    """What vLLM is asked to do for a chain: its own settings, plus pre-decodings for the
    logits processor (empty when the chain collapses exactly into one vLLM decoding)."""

    decoding: Decoding
    pre: tuple[Decoding, ...] = ()


def plan_decoding(chain: Sequence[Decoding]) -> DecodingPlan:
    """Map a decoding chain onto vLLM.

    Pre-decodings without truncation compose exactly: tempering at T1 and then decoding at
    (T2, top-k, top-p) equals decoding at (T1 * T2, top-k, top-p), because the softmax's
    normaliser is a constant shift of the logits. A greedy pre-decoding makes the whole chain
    greedy. Pre-decodings that truncate cannot be expressed by ``SamplingParams``; they go to the
    logits processor (``ssd.backends.vllm_processor``), which vLLM applies before its own
    temperature, top-k and top-p. A sampling temperature that ``SamplingParams`` would refuse
    (above 2) or change (below 0.01), a T_train x T_eval product included, goes to the processor
    too: it tempers, and vLLM decodes at temperature 1 with the chain's own top-k and top-p.
    """
    *pre, last = chain
    if not pre:
        plan = DecodingPlan(last)
    elif any(d.greedy for d in pre):
        return DecodingPlan(Decoding(0.0, last.top_k, last.top_p))
    elif any(truncates(d) for d in pre):
        plan = DecodingPlan(last, tuple(pre))
    else:
        t_eff = last.temperature
        for d in pre:
            t_eff *= d.temperature
        plan = DecodingPlan(Decoding(t_eff, last.top_k, last.top_p))
    t = plan.decoding.temperature
    if plan.decoding.greedy or MIN_TEMPERATURE <= t <= MAX_TEMPERATURE:
        return plan
    return DecodingPlan(Decoding(1.0, last.top_k, last.top_p), (*plan.pre, Decoding(t)))


def sampling_params_kwargs(
    decoding: Decoding,
    *,
    n: int,
    max_tokens: int,
    seed: int,
    stop_ids: Sequence[int] = (),
    pre: Sequence[Decoding] = (),
) -> dict[str, Any]:
    """Every ``SamplingParams`` field that affects sampling, set explicitly (vLLM's order:
    temperature -> top-k -> top-p; no min-p, no penalties). ``stop_ids``: end tokens besides
    the tokenizer's EOS (the checkpoint's generation config is not read by vLLM here)."""
    kwargs: dict[str, Any] = {
        "n": n,
        "temperature": decoding.temperature,
        "top_k": decoding.top_k
        if decoding.top_k > 0
        else -1,  # -1: off (vLLM >= 0.10 also takes 0)
        "top_p": decoding.top_p,
        "min_p": 0.0,
        "repetition_penalty": 1.0,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "max_tokens": max_tokens,
        "seed": seed,
        "stop_token_ids": list(stop_ids),
        "skip_special_tokens": True,
    }
    if pre:  # the pre-decodings' top-k ties follow vLLM's own rule, as its sampler does
        kwargs["extra_args"] = {
            PRE_KEY: [d.as_dict() for d in pre],
            TIES_KEY: VLLM_TOP_K_TIES,
        }
    return kwargs


def strip_stop_token(token_ids: Sequence[int], finish_reason: str, stop_ids: set[int]) -> list[int]:
    """Completion ids without the final EOS, as the hf backend stores them (SFT appends EOS)."""
    ids = list(token_ids)
    if finish_reason == "stop" and ids and ids[-1] in stop_ids:
        ids.pop()
    return ids


def samples_from_outputs(
    prompts: Sequence[Prompt],
    rendered: Sequence[tuple[str, Sequence[int]]],
    outputs: Sequence[Any],
    stop_ids: Sequence[int],
    chain: Sequence[Decoding],
) -> list[Sample]:
    """``Sample`` records from vLLM's ``RequestOutput``s (one per prompt, in prompt order)."""
    chain_dicts = [d.as_dict() for d in chain]
    samples = []
    for prompt, (text, ids), out in zip(prompts, rendered, outputs, strict=True):
        for comp in sorted(out.outputs, key=lambda c: c.index):
            if comp.finish_reason not in ("stop", "length"):
                raise RuntimeError(f"vLLM request {prompt.prompt_id}: {comp.finish_reason}")
            samples.append(
                Sample(
                    prompt_id=prompt.prompt_id,
                    sample_index=comp.index,
                    prompt_text=text,
                    prompt_token_ids=list(ids),
                    completion=comp.text,
                    token_ids=strip_stop_token(comp.token_ids, comp.finish_reason, set(stop_ids)),
                    finish_reason=comp.finish_reason,
                    decoding=chain_dicts,
                )
            )
    return samples


def has_processor_interface() -> bool:
    """Whether the installed vLLM has a logits-processor interface for the ideal student."""
    _import_vllm()
    from ssd.backends.vllm_processor import processor_for_runner

    return processor_for_runner() is not None


class VLLMBackend:
    """vLLM sampling for one base model (or a trained checkpoint); SFT via ``ssd.backends.sft``."""

    def __init__(self, model: Any) -> None:
        if not model.path:
            raise ValueError("model.path is required for the vllm backend (hub id or local folder)")
        self.model_cfg = model
        self._llm: tuple[str, bool, Any] | None = None  # (path, with_processor, LLM)

    def __getstate__(self) -> dict[str, Any]:
        # A copy sent to a stage process (isolate_stages) starts its own engine, never this one.
        return {**self.__dict__, "_llm": None}

    def identity(self) -> dict[str, Any]:
        """The model plus vLLM's version (read from the package metadata: no import, no CUDA)."""
        from importlib.metadata import PackageNotFoundError, version

        try:
            vllm_version = version("vllm")
        except PackageNotFoundError as err:
            raise ImportError(INSTALL_HINT) from err
        engine = engine_identity("vllm", vllm_version, VLLM_TOP_K_TIES)
        return {**model_identity("vllm", self.model_cfg), "engine": engine}

    def llm_kwargs(self, path: str) -> dict[str, Any]:
        """``LLM(...)`` arguments; ``generation_config="vllm"``: no checkpoint sampling defaults."""
        m = self.model_cfg
        return {
            "model": path,
            "tokenizer": path,
            "dtype": m.dtype,
            "tensor_parallel_size": m.tensor_parallel_size,
            "gpu_memory_utilization": m.gpu_memory_utilization,
            "max_model_len": m.max_model_len,
            "trust_remote_code": m.trust_remote_code,
            "generation_config": "vllm",
            # Only the base model has a hub revision; trained checkpoints are local folders.
            "revision": m.revision if path == resolve_model_path(m.path) else None,
        }

    def generation_eos(self, checkpoint: str | None) -> int | list[int] | None:
        """End ids of the checkpoint's ``generation_config.json`` (None when it has none)."""
        from transformers import GenerationConfig

        path = checkpoint or resolve_model_path(self.model_cfg.path)
        local = _local_dir(path)
        if local is None or not (local / "generation_config.json").is_file():
            return None
        return GenerationConfig.from_pretrained(local).eos_token_id

    def load(self, checkpoint: str | None, with_processor: bool) -> Any:
        path = checkpoint or resolve_model_path(self.model_cfg.path)
        if self._llm is not None:
            loaded_path, loaded_proc, llm = self._llm
            if loaded_path == path and (loaded_proc or not with_processor):
                return llm
            # Deleting an LLM does not free its GPU memory reliably: never load a second one.
            raise RuntimeError(
                f"the vllm backend already holds {loaded_path}; sampling {path} "
                f"{'with the ideal logits processor ' if with_processor else ''}needs a new "
                "process: run stages in separate processes (isolate_stages=true)"
            )
        vllm = _import_vllm()
        kwargs = self.llm_kwargs(path)
        if with_processor:
            from ssd.backends.vllm_processor import processor_for_runner, v2_runner_requested

            found = processor_for_runner()
            if found is None:  # generate() falls back before it gets here
                raise RuntimeError("no vLLM logits-processor interface for the ideal student")
            name, runner = found
            if v2_runner_requested() is None and runner == "v2":
                # Pin the runner the processor was written for (the engine's processes inherit it).
                os.environ["VLLM_USE_V2_MODEL_RUNNER"] = "1"
            logger.info("vLLM %s: ideal student via %s (%s runner)", vllm.__version__, name, runner)
            kwargs["logits_processors"] = [name]
        llm = vllm.LLM(**kwargs)
        self._llm = (path, with_processor, llm)
        return llm

    def generate(
        self,
        policy: Policy,
        prompts: Sequence[Prompt],
        decoding: Decoding,
        *,
        n: int,
        max_tokens: int,
        seed: int,
        on_batch: Callable[[list[Sample]], None],
    ) -> None:
        """Sample ``n`` completions per prompt in one ``LLM.generate`` call; ``on_batch`` once."""
        chain = policy.chain(decoding)
        plan = plan_decoding(chain)
        if plan.pre and not has_processor_interface():
            logger.warning(
                "the installed vLLM has no logits-processor interface this backend knows "
                "(Model Runner V2 or V1; tested range: the vllm extra): sampling %s with the hf "
                "backend (transformers, top-k ties as vLLM) instead",
                [d.as_dict() for d in chain],
            )
            self.hf_fallback().generate(
                policy, prompts, decoding, n=n, max_tokens=max_tokens, seed=seed, on_batch=on_batch
            )
            return
        llm = self.load(policy.checkpoint, with_processor=bool(plan.pre))
        vllm = _import_vllm()
        tokenizer = llm.get_tokenizer()
        stop_ids = stop_token_ids(tokenizer, self.generation_eos(policy.checkpoint))
        rendered = [render_prompt(tokenizer, p, self.model_cfg) for p in prompts]
        params = [
            vllm.SamplingParams(
                **sampling_params_kwargs(
                    plan.decoding,
                    n=n,
                    max_tokens=max_tokens,
                    seed=batch_seed(seed, [p.prompt_id]),
                    stop_ids=stop_ids,
                    pre=plan.pre,
                )
            )
            for p in prompts
        ]
        requests = [{"prompt_token_ids": ids} for _, ids in rendered]
        outputs = llm.generate(requests, params, use_tqdm=False)
        samples = samples_from_outputs(prompts, rendered, outputs, stop_ids, chain)
        on_batch(samples)

    def hf_fallback(self) -> Any:
        """The path that works without vLLM's processor interface: transformers, decoding top-k
        ties by vLLM's rule so its samples mean what vLLM's would."""
        from ssd.backends.hf import HFBackend

        return HFBackend(self.model_cfg, top_k_ties=VLLM_TOP_K_TIES)

    def train(self, samples: Sequence[Sample], training: Any, out_dir: Path) -> dict[str, Any]:
        """SFT through ``ssd.backends.sft`` (vLLM is not involved in training)."""
        from ssd.backends.sft import train_sft

        if self._llm is not None:
            logger.warning("training in a process that holds a vLLM engine: GPU memory is shared")
        return train_sft(self.model_cfg, samples, training, Path(out_dir))
