"""The ideal SSD student inside vLLM: a logits processor that replaces a request's logits by the
SSD target's log-probabilities (``ssd.decoding.chain_logprobs`` of the request's pre-decodings).

vLLM then applies the request's own temperature, top-k and top-p to them, so the model decodes
``[train, eval]`` exactly as ``ssd.decoding`` defines it. The pre-decodings travel in
``SamplingParams.extra_args["ssd_pre"]`` (plain dicts: they cross vLLM's msgpack transport).

vLLM ``>=0.32,<0.34`` has two model runners, each with its own processor interface, and loads
processors by fully-qualified class name in its worker processes, so both classes live at module
level here (importing this module imports vLLM; ``ssd.backends.vllm`` imports it only when a
chain needs it):

- ``SSDTargetProcessor``: Model Runner V2 (the default on CUDA with Triton), subclass of
  ``vllm.v1.worker.gpu.sample.logits_processor.LogitsProcessor``; its loader rejects anything else.
- ``SSDTargetProcessorV1``: the V1 runner (``VLLM_USE_V2_MODEL_RUNNER=0``), subclass of
  ``vllm.v1.sample.logits_processor.AdapterLogitsProcessor``.

``processor_for_runner`` names the one that matches the runner vLLM will use; without either
interface the backend falls back, logged, to the hf backend (``ssd.backends.vllm``). The math is
``apply_chains`` (no vLLM needed; tests/test_vllm_backend.py); the classes are exercised against
the real vLLM by ``make check-vllm`` (tests/test_vllm_real.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from ssd.backends.vllm_limits import PRE_KEY, TIES_KEY, VLLM_TOP_K_TIES
from ssd.decoding import Decoding, chain_logprobs, check_top_k_ties

ROW_CHUNK = 128  # rows per float64 chain_logprobs call (a 150k vocabulary: ~150 MB per chunk)

V2_INTERFACE = "vllm.v1.worker.gpu.sample.logits_processor"
V1_INTERFACE = "vllm.v1.sample.logits_processor"
V2_NAME = f"{__name__}:SSDTargetProcessor"
V1_NAME = f"{__name__}:SSDTargetProcessorV1"

Chain = tuple[tuple[Decoding, ...], str]  # (pre-decodings, top-k tie rule)


def request_chain(extra_args: dict[str, Any] | None) -> Chain | None:
    """The request's pre-decodings and tie rule, or None when it carries none.

    Raises:
        ValueError: malformed ``ssd_pre`` (vLLM turns it into a validation error of the request).
    """
    pre = (extra_args or {}).get(PRE_KEY)
    if not pre:
        return None
    if not isinstance(pre, list | tuple) or not all(isinstance(d, dict) for d in pre):
        raise ValueError(f"extra_args[{PRE_KEY!r}] must be a list of decoding dicts, got {pre!r}")
    ties = check_top_k_ties(str((extra_args or {}).get(TIES_KEY, VLLM_TOP_K_TIES)))
    return tuple(Decoding(**d) for d in pre), ties


def apply_chains(logits: torch.Tensor, row_chains: Iterable[tuple[int, Chain]]) -> torch.Tensor:
    """Replace the listed rows of ``logits`` ([rows, vocab]) in place by their chains'
    log-probabilities (``-inf`` outside each chain's kept set); other rows are untouched."""
    groups: dict[Chain, list[int]] = {}
    for row, chain in row_chains:
        groups.setdefault(chain, []).append(row)
    for (pre, ties), rows in groups.items():
        for start in range(0, len(rows), ROW_CHUNK):
            idx = torch.tensor(rows[start : start + ROW_CHUNK], device=logits.device)
            logits[idx] = chain_logprobs(logits[idx], pre, ties).to(logits.dtype)
    return logits


class _RowChain:
    """A V1 per-request processor: ``(output_ids, logits_row) -> target log-probabilities``."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain

    def __call__(self, output_ids: list[int], logits: torch.Tensor) -> torch.Tensor:
        pre, ties = self.chain
        return chain_logprobs(logits, pre, ties).to(logits.dtype)


def _validate(params: Any) -> None:
    request_chain(getattr(params, "extra_args", None))


try:
    from vllm.v1.worker.gpu.sample.logits_processor import LogitsProcessor as _V2Base
except ImportError:  # no vLLM, or a release without Model Runner V2
    _V2Base = None  # type: ignore[assignment, misc]

try:
    from vllm.v1.sample.logits_processor import AdapterLogitsProcessor as _V1Base
except ImportError:
    _V1Base = None  # type: ignore[assignment, misc]


if _V2Base is not None:

    class SSDTargetProcessor(_V2Base):  # type: ignore[misc, valid-type]
        """Model Runner V2: per-slot chains; ``apply`` runs before temperature/top-k/top-p."""

        def __init__(self, vllm_config: Any, req_states: Any) -> None:
            super().__init__(vllm_config, req_states)
            self.chains: dict[int, Chain] = {}

        @classmethod
        def validate_params(cls, sampling_params: Any) -> None:
            _validate(sampling_params)

        def add_request(self, req_idx: int, sampling_params: Any) -> bool:
            chain = request_chain(sampling_params.extra_args)
            if chain is None:
                self.chains.pop(req_idx, None)  # a recycled slot: drop its last occupant's chain
                return False
            self.chains[req_idx] = chain
            return True

        def apply(self, logits: torch.Tensor, ctx: Any) -> torch.Tensor:
            if not self.chains:
                return logits
            if logits.shape[0] == len(ctx.idx_mapping_np):  # one row per request: no GPU sync
                slots: Sequence[int] = ctx.idx_mapping_np.tolist()
            else:  # speculative decoding: several rows per request
                slots = ctx.expanded_idx_mapping.tolist()
            rows = [(r, self.chains[s]) for r, s in enumerate(slots) if s in self.chains]
            return apply_chains(logits, rows)


if _V1Base is not None:

    class SSDTargetProcessorV1(_V1Base):  # type: ignore[misc, valid-type]
        """V1 model runner: one ``_RowChain`` per request that carries pre-decodings."""

        @classmethod
        def validate_params(cls, sampling_params: Any) -> None:
            _validate(sampling_params)

        def is_argmax_invariant(self) -> bool:
            # False: vLLM must apply it (greedy requests too), before its own sampling steps.
            return False

        def new_req_logits_processor(self, params: Any) -> _RowChain | None:
            chain = request_chain(params.extra_args)
            return _RowChain(chain) if chain is not None else None


def v2_runner_requested() -> bool | None:
    """``VLLM_USE_V2_MODEL_RUNNER`` as vLLM reads it: True, False, or None (vLLM decides; on
    CUDA with Triton and our settings it picks V2)."""
    value = os.environ.get("VLLM_USE_V2_MODEL_RUNNER")
    if value is None or value == "":
        return None
    return value.strip().lower() in ("1", "true", "yes")


def processor_for_runner() -> tuple[str, str] | None:
    """(fully-qualified class name, runner) of the processor for the runner vLLM will use, or
    None when the installed vLLM has neither interface.

    With the runner left to vLLM (no ``VLLM_USE_V2_MODEL_RUNNER``), the backend sets it to V2 in
    its process before starting the engine (the engine's processes inherit it), so the runner is
    the one this class was written for rather than a guess.
    """
    requested = v2_runner_requested()
    if requested is not False and _V2Base is not None:
        return V2_NAME, "v2"
    if requested is not True and _V1Base is not None:
        return V1_NAME, "v1"
    return None
