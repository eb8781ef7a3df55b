"""Weights & Biases logging; the only module that imports wandb.

Offline by default (``tracking.mode=offline``: local run folders, ``wandb sync`` uploads them
later), ``online`` when the user asks, ``disabled`` for tests (``tracking=none``). One run per
process and stage: ``group`` is the study or experiment, ``job_type`` the stage.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import sys
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _get(cfg: Any, key: str, default: Any = None) -> Any:
    if isinstance(cfg, Mapping):
        return cfg.get(key, default)
    return getattr(cfg, key, default)


@contextmanager
def open_run(
    tracking: Any,
    *,
    name: str,
    group: str | None,
    job_type: str,
    config: dict[str, Any],
    dir: Path,
) -> Iterator[Any]:
    """A W&B run for the block, or None when tracking is disabled; always finished.

    Args:
        tracking: a ``TrackingConfig`` (or a mapping with the same keys).
        name: the run name (trial and stage).
        group: W&B group (study or experiment name); ``tracking.group`` wins when set.
        job_type: the stage (``trial``, ``sweep_summary``, ...).
        config: the resolved config, logged at init (run.config is read-only afterwards).
        dir: where wandb writes its run folder.
    """
    mode = _get(tracking, "mode", "offline")
    if mode == "disabled" or os.environ.get("WANDB_MODE") == "disabled":
        yield None
        return
    import wandb

    Path(dir).mkdir(parents=True, exist_ok=True)
    run = wandb.init(
        project=_get(tracking, "project", "ssd"),
        entity=_get(tracking, "entity"),
        group=_get(tracking, "group") or group,
        job_type=job_type,
        name=_get(tracking, "name") or name,
        tags=list(_get(tracking, "tags", []) or []),
        config=config,
        dir=str(dir),
        mode=mode,
        reinit="finish_previous",
    )
    try:
        yield run
    finally:
        run.finish()
        log.info("wandb %s run written under %s", mode, dir)


def flatten(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Nested numeric metrics as ``a.b.c`` keys (strings and lists are left out)."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, prefix=f"{name}."))
        elif isinstance(value, bool):
            out[name] = float(value)
        elif isinstance(value, int | float):
            out[name] = float(value)
    return out


def log_metrics(run: Any, metrics: Mapping[str, Any]) -> None:
    """Log flattened metrics and put them in the run summary."""
    if run is None:
        return
    flat = flatten(metrics)
    run.log(flat)
    run.summary.update(flat)


def log_pruned(run: Any, saved: Mapping[str, Any]) -> None:
    """A pruned trial (``saved``: the results.json ``ssd.fidelity`` wrote): its cost and where it
    stopped as metrics, and in the summary state PRUNED with pruned_step and pruned_checkpoint
    (the names trials.csv uses), so that W&B filters it like the study does."""
    if run is None:
        return
    pruned = saved["pruned"]
    log_metrics(run, {"pruned": pruned, "cost": saved.get("cost", {})})
    run.summary.update(
        {
            "state": "PRUNED",
            "pruned_step": int(pruned["step"]),
            "pruned_checkpoint": str(pruned["checkpoint"]),
        }
    )


def log_table(run: Any, key: str, dataframe: Any) -> None:
    """Log a pandas DataFrame as a W&B table."""
    if run is None:
        return
    import wandb

    run.log({key: wandb.Table(dataframe=dataframe)})


# W&B keys of a trial run: SFT curves against their own step, one table per evaluated policy.
SFT_STEP = "sft/step"
SFT_KEYS = {"loss": "sft/loss", "learning_rate": "sft/lr", "grad_norm": "sft/grad_norm"}
COMPLETION_COLUMNS = ("problem_id", "difficulty", "sample_index", "verdict", "passed", "completion")


_STREAMED: set[str] = set()  # ids of runs that got their SFT curves live from the trainer


def log_sft_curves(run: Any, log_history: Sequence[Mapping[str, Any]]) -> int:
    """Log the trainer's log history as ``sft/*`` curves against ``sft/step``; returns the rows.

    The history comes from the training artifact (``results["training"]["log"]``), so the curves
    land in the trial's own run even when SFT ran in another process (``isolate_stages``,
    ``accelerate launch``) or came from the cache. A run that got them live
    (``sft_stream_callback``) is left alone: no curve twice.
    """
    if run is None or not log_history or run.id in _STREAMED:
        return 0
    run.define_metric(SFT_STEP)
    run.define_metric("sft/*", step_metric=SFT_STEP)
    rows = 0
    for entry in log_history:
        row = {
            new: float(entry[old]) for old, new in SFT_KEYS.items() if entry.get(old) is not None
        }
        if "step" in entry and row:
            run.log({SFT_STEP: int(entry["step"]), **row})
            rows += 1
    return rows


def sft_stream_callback() -> Any | None:
    """A ``TrainerCallback`` that streams ``sft/*`` into the active trial run, or None.

    In-process SFT (the default) logs every ``training.logging_steps`` while it trains, so a
    long GPU run's loss is watchable in W&B as it goes. None when no W&B run is active (tracking
    off, or SFT in a worker process): the trial run then gets the curves from the artifact.
    """
    wandb = sys.modules.get("wandb")  # never imported: no run can be active
    active = getattr(wandb, "run", None) if wandb is not None else None
    if active is None:
        return None
    run: Any = active
    from transformers import TrainerCallback

    class _StreamSft(TrainerCallback):  # type: ignore[misc]
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if not state.is_world_process_zero or not logs or "loss" not in logs:
                return
            if run.id not in _STREAMED:
                run.define_metric(SFT_STEP)
                run.define_metric("sft/*", step_metric=SFT_STEP)
                _STREAMED.add(run.id)
            row = {
                new: float(logs[old]) for old, new in SFT_KEYS.items() if logs.get(old) is not None
            }
            run.log({SFT_STEP: int(state.global_step), **row})

    return _StreamSft()


def log_completions(run: Any, key: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Log an evaluation's kept completions and verdicts as a W&B table (nothing if none)."""
    if run is None or not rows:
        return
    import wandb

    table = wandb.Table(columns=list(COMPLETION_COLUMNS))
    for row in rows:
        table.add_data(*(row.get(c) for c in COMPLETION_COLUMNS))
    run.log({key: table})


def log_trial(run: Any, results: Mapping[str, Any]) -> None:
    """Everything a trial's run carries: SFT curves, completions, timings, costs, metrics.

    Args:
        run: the trial's W&B run (None: nothing is logged).
        results: the trial's ``results.json`` content.
    """
    if run is None:
        return
    from ssd.evaluation.completions import read_completions

    log_sft_curves(run, (results.get("training") or {}).get("log") or [])
    for policy in ("base", "ssd", "ideal"):
        eval_dir = (results.get(policy) or {}).get("eval_dir")
        if eval_dir:
            log_completions(run, f"completions/{policy}", read_completions(eval_dir))
    metrics = {
        k: results[k]
        for k in ("base", "ssd", "ideal", "delta", "t_eff", "objective")
        if k in results
    }
    metrics["timings"] = dict(results.get("timings") or {})
    if isinstance(results.get("cost"), Mapping):
        metrics["cost"] = results["cost"]
    log_metrics(run, metrics)


def teff_series(
    trials: Sequence[Mapping[str, Any]], metric: str = "pass@1"
) -> dict[str, list[tuple[float, float]]]:
    """``metric`` against T_eff per series: SSD and ideal per (T_train, truncation), and base.

    Args:
        trials: per trial ``{"t_train", "t_eval", "t_eff", "truncation", "base", "ssd",
            "ideal"}`` (the latter three: metric dicts, as in results.json).
        metric: the metric of every series.

    The base model is untrained, so its score depends on T_eval alone: its series is drawn
    against T_eval on the same axis, as in ``pass_vs_teff.png``.
    """
    series: dict[str, list[tuple[float, float]]] = {}
    for t in sorted(trials, key=lambda t: (t["truncation"], t["t_train"], t["t_eff"])):
        setting = f"T_train {t['t_train']:g}, trunc {t['truncation']}"
        for policy, x in (("ssd", t["t_eff"]), ("ideal", t["t_eff"])):
            if metric in (t.get(policy) or {}):
                name = f"{'SSD' if policy == 'ssd' else 'ideal'} {setting}"
                series.setdefault(name, []).append((float(x), float(t[policy][metric])))
    base = sorted(
        {
            (float(t["t_eval"]), float(t["base"][metric]))
            for t in trials
            if metric in (t.get("base") or {})
        }
    )
    if base:
        series["base (x = T_eval)"] = base
    return series


def log_sweep_charts(run: Any, trials: Sequence[Mapping[str, Any]], metric: str = "pass@1") -> None:
    """Native W&B charts of a sweep: ``metric`` vs T_eff as line series, and a scatter.

    W&B can group, filter and restyle these in its UI, unlike an image. The points also go
    into a ``teff_points`` table (one row per trial) that the scatter is drawn from.
    """
    if run is None:
        return
    import wandb

    series = teff_series(trials, metric)
    if not series:
        return
    names = list(series)
    run.log(
        {
            "charts/pass_vs_teff": wandb.plot.line_series(
                xs=[[x for x, _ in series[n]] for n in names],
                ys=[[y for _, y in series[n]] for n in names],
                keys=names,
                title=f"{metric} vs T_eff (per T_train and truncation; base vs T_eval)",
                xname="T_eff",
            )
        }
    )
    columns: list[str | int] = ["trial", "t_train", "t_eval", "t_eff", "truncation"]
    columns += ["ssd", "ideal", "base"]
    table = wandb.Table(columns=columns)
    for t in trials:
        table.add_data(
            *(t.get(str(c)) for c in columns[:5]),
            *((t.get(p) or {}).get(metric) for p in ("ssd", "ideal", "base")),
        )
    run.log({"teff_points": table})
    run.log(
        {
            "charts/ssd_scatter": wandb.plot.scatter(
                table, "t_eff", "ssd", title=f"SSD {metric} vs T_eff, one point per trial"
            )
        }
    )


def log_image(run: Any, key: str, png_path: Path) -> None:
    """Log a PNG file as a W&B image."""
    if run is None:
        return
    import wandb

    run.log({key: wandb.Image(str(png_path))})


# ---------------------------------------------------------------- reading offline runs back
_LOG_HEADER = struct.Struct("<4sHB")  # ":W&B", magic 0xBEE1, version 0
_RECORD_HEADER = struct.Struct("<IHB")  # crc32 of type byte + payload, length, type
_BLOCK = 32768
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


@dataclass
class OfflineRun:
    """What an offline run's ``run-<id>.wandb`` holds, as plain Python values.

    ``history`` has one dict per ``run.log`` call (nested keys as nested dicts); ``tables``
    maps a logged table's key to ``{"columns", "data"}`` read from the file the record names;
    ``charts`` maps a custom chart's key to its panel (``panel_config.panelDefId`` names the
    chart type, e.g. ``wandb/lineseries/v0``); ``finished`` is True once the exit record is there.
    """

    path: Path
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    finished: bool = False

    @property
    def charts(self) -> dict[str, Any]:
        return dict(self.config.get("_wandb", {}).get("visualize", {}))

    def series(self, key: str, step: str = "_step") -> list[tuple[Any, Any]]:
        """(step, value) of every history row holding ``key``."""
        return [(row.get(step), row[key]) for row in self.history if key in row]


def _records(data: bytes) -> Iterator[bytes]:
    """The payloads of W&B's transaction log (LevelDB's log format: 32 KiB blocks of chunks)."""
    ident, magic, version = _LOG_HEADER.unpack_from(data, 0)
    if ident != b":W&B" or magic != 0xBEE1 or version != 0:
        raise ValueError(f"not a W&B run file (header {data[:7]!r})")
    pos, pending = _LOG_HEADER.size, b""
    while pos + _RECORD_HEADER.size <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < _RECORD_HEADER.size:  # block trailer padding
            pos += left
            continue
        crc, length, kind = _RECORD_HEADER.unpack_from(data, pos)
        if (crc, length, kind) == (0, 0, 0):  # zero padding up to the block end
            pos += left
            continue
        payload = data[pos + _RECORD_HEADER.size : pos + _RECORD_HEADER.size + length]
        if len(payload) < length:
            break  # a record still being written: stop at the last complete one
        if zlib.crc32(payload, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF != crc:
            raise ValueError(f"W&B run file: bad checksum at byte {pos}")
        pos += _RECORD_HEADER.size + length
        if kind == _FULL:
            yield payload
        elif kind == _FIRST:
            pending = payload
        elif kind == _MIDDLE:
            pending += payload
        elif kind == _LAST:
            yield pending + payload


def _put(target: dict[str, Any], item: Any) -> None:
    keys = list(item.nested_key) or [item.key]
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = json.loads(item.value_json)


def read_offline_run(run_dir: str | Path, wait_s: float = 60.0) -> OfflineRun:
    """Read an offline run folder (``.../wandb/offline-run-*``) back through W&B's protobufs.

    Why: tests and scripts check what a run really carries (SFT curves, tables, chart panels)
    without uploading it; the records are decoded with wandb's own ``Record`` message.
    ``run.finish()`` can return before wandb's writer process has written the last records (seen
    on a loaded machine), so this waits up to ``wait_s`` seconds for the exit record; past that
    it returns what is there, with ``finished`` False.
    """
    deadline = time.monotonic() + wait_s
    while True:
        out = _read_run(Path(run_dir))
        if out.finished or time.monotonic() > deadline:
            return out
        time.sleep(0.2)


def _read_run(run_dir: Path) -> OfflineRun:
    from wandb.proto import wandb_internal_pb2

    files = sorted(run_dir.glob("run-*.wandb"))
    if not files:
        raise FileNotFoundError(f"no run-*.wandb in {run_dir}")
    out = OfflineRun(path=files[0])
    for payload in _records(files[0].read_bytes()):
        record = wandb_internal_pb2.Record()  # type: ignore[attr-defined]
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            for item in record.run.config.update:
                _put(out.config, item)
        elif kind == "config":
            for item in record.config.update:
                _put(out.config, item)
        elif kind == "history":
            row: dict[str, Any] = {}
            for item in record.history.item:
                _put(row, item)
            out.history.append(row)
        elif kind == "summary":
            for item in record.summary.update:
                _put(out.summary, item)
        elif kind == "exit":
            out.finished = True
    for row in out.history:
        for key, value in row.items():
            if isinstance(value, dict) and value.get("_type") == "table-file":
                table = json.loads((run_dir / "files" / value["path"]).read_text())
                out.tables[key] = {"columns": table["columns"], "data": table["data"]}
    return out
