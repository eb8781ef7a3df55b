"""One rank of multi-process SFT: ``accelerate launch -m ssd.backends.sft_worker RESOLVED.json``.

``ssd.backends.sft.train_sft`` writes RESOLVED.json (model and training settings, samples file,
output folder) and spawns this; every rank reads the same file (no Hydra here). Rank 0 writes
``train_metrics.json`` into the output folder.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from ssd.backends.sft import METRICS_FILE, run_sft
from ssd.config import DecodingConfig, FilterConfig, ModelConfig, SGDConfig, TrainingConfig
from ssd.records import Sample


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: python -m ssd.backends.sft_worker RESOLVED.json")
    logging.basicConfig(level=logging.INFO)
    resolved = json.loads(Path(argv[0]).read_text())
    model_dict = dict(resolved["model"])
    model_dict["base_decoding"] = DecodingConfig(**model_dict["base_decoding"])
    training_dict = dict(resolved["training"])
    training_dict["filter"] = FilterConfig(**training_dict["filter"])
    if "sgd" in training_dict:  # the toy's settings, carried along unused
        training_dict["sgd"] = SGDConfig(**training_dict["sgd"])
    model_cfg = ModelConfig(**model_dict)
    training = TrainingConfig(**training_dict)
    with open(resolved["samples"]) as f:
        samples = [Sample.from_json(json.loads(line)) for line in f if line.strip()]
    out_dir = Path(resolved["out_dir"])
    metrics = run_sft(model_cfg, samples, training, out_dir)
    from accelerate import PartialState

    if PartialState().is_main_process:
        (out_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
