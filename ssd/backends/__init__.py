"""Model backends behind one interface (``ssd.backends.base.Backend``), chosen by name.

``toy``: the paper's lock/fork machine; ``hf``: transformers on CPU or GPU; ``vllm``: vLLM
(GPU, optional extra). Heavy libraries are imported only when their backend is chosen.
"""

from __future__ import annotations

from typing import Any

from ssd.backends.base import Backend, Policy

__all__ = ["Backend", "Policy", "load_backend"]


def load_backend(model: Any, backend: str, top_k_ties: str = "auto") -> Backend:
    """Build the backend named ``backend`` for ``model`` (a ``ModelConfig``); ``top_k_ties``:
    ``sampling.top_k_ties`` (the hf backend can follow vLLM's rule, see ssd.decoding)."""
    if backend == "toy":
        from ssd.backends.toy import ToyBackend

        return ToyBackend()
    if backend == "hf":
        from ssd.backends.hf import HFBackend

        return HFBackend(model, top_k_ties=top_k_ties)
    if backend == "vllm":
        from ssd.backends.vllm import VLLMBackend

        return VLLMBackend(model)
    raise ValueError(f"sampling.backend={backend!r} is invalid: expected one of toy, hf, vllm")
