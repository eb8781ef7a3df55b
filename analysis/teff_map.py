"""T_eff map of a finished study: per truncation group, pass@k vs T_eff = T_train x T_eval.

Reads a sweep folder (``trials.csv`` + ``<trial>/results.json``), an Optuna storage, or a grid the
paper published (shipped in ``analysis/data/paper``); writes PNG figures, ``fits.csv``,
``fits.md`` and ``runs.csv`` into ``--out``. Run:
``python -m analysis.teff_map --paper qwen3_30b --out outputs/analysis/paper`` or
``python -m analysis.teff_map --study-dir outputs/sweeps/NAME --compare-paper qwen3_30b``.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.teff_fit import PeakInterval, QuadraticFit, bootstrap_peak, fit_quadratic  # noqa: E402
from ssd.evaluation.passk import pass_at_k as _pass_at_k  # noqa: E402
from ssd.figures import load_sweep_trials, save_figure  # noqa: E402

# Per-problem pass@k repeats the same few (n, c, k) thousands of times per study.
pass_at_k = functools.lru_cache(maxsize=None)(_pass_at_k)
METRICS = ("pass@1", "pass@5")
PAPER_DATA = Path(__file__).parent / "data" / "paper"  # package data (pyproject: analysis data/**)
DIFFICULTIES = ("easy", "medium", "hard")


@dataclass(frozen=True)
class PaperGrid:
    """A grid the paper published; numbers in percent."""

    file: str
    label: str
    top_k: int
    top_p: float
    base: dict[str, float]  # the base model's published pass@k


# Truncation of the 4B thinking grid is not printed with the figure; (20, 0.95) is that model's
# training truncation in the paper's settings table.
PAPER_GRIDS = {
    "qwen3_30b": PaperGrid(
        "qwen3_30b_instruct_no_truncation_grid.csv",
        "paper Qwen3-30B-A3B-Instruct",
        0,
        1.0,
        {"pass@1": 42.4, "pass@5": 53.5},
    ),
    "qwen3_4b_thinking": PaperGrid(
        "qwen3_4b_thinking_grid.csv",
        "paper Qwen3-4B-Thinking",
        20,
        0.95,
        {"pass@1": 54.5, "pass@5": 67.5},
    ),
}


@dataclass
class Study:
    """Runs of one study in a flat table (metrics in percent) plus optional per-problem results.

    ``runs`` columns: t_train, t_eval, t_eff, top_k, top_p, group, ``pass@k`` (SSD model),
    ``base_pass@k`` (base model at the same evaluation decoding), ``pass@k_<difficulty>``.
    ``problems[i]`` holds run i's per-problem table (problem_id, difficulty, n, c) when known.
    """

    name: str
    runs: pd.DataFrame
    problems: dict[int, pd.DataFrame] = field(default_factory=dict)
    base: dict[str, float] = field(default_factory=dict)  # a published base line, if any


def group_label(top_k: float, top_p: float) -> str:
    """Name of a truncation group, e.g. ``no truncation`` or ``top-k 10, top-p 0.8``."""
    parts = []
    if top_k and top_k > 0:
        parts.append(f"top-k {int(top_k)}")
    if top_p < 1.0:
        parts.append(f"top-p {top_p:g}")
    return ", ".join(parts) if parts else "no truncation"


# ---------------------------------------------------------------- loading


def load_paper_grid(name: str) -> Study:
    """One of ``PAPER_GRIDS`` as a study (the paper reports no per-problem results)."""
    if name not in PAPER_GRIDS:
        raise ValueError(f"--paper must be one of {sorted(PAPER_GRIDS)}, got {name!r}")
    grid = PAPER_GRIDS[name]
    frame = pd.read_csv(PAPER_DATA / grid.file)
    runs = frame.rename(columns={"pass_at_1": "pass@1", "pass_at_5": "pass@5"})
    runs["t_eff"] = runs["t_train"] * runs["t_eval"]
    runs["top_k"], runs["top_p"] = grid.top_k, grid.top_p
    runs["group"] = group_label(grid.top_k, grid.top_p)
    return Study(name=grid.label, runs=runs, base=dict(grid.base))


def _percent(value: object) -> float:
    """Project results are fractions in [0, 1]; the tables use percent like the paper."""
    return float(value) * 100 if value is not None else float("nan")


def _row_from_results(results: dict) -> dict[str, float | str]:
    config = results.get("config", {})
    sampling = config.get("sampling", {})
    evaluation = config.get("evaluation", {})
    row: dict[str, float | str] = {
        "t_train": float(results["t_train"]),
        "t_eval": float(results["t_eval"]),
        "t_eff": float(results["t_eff"]),
        "top_k": float(sampling.get("top_k", 0) or 0),
        "top_p": float(sampling.get("top_p", 1.0)),
        "eval_top_k": float(evaluation.get("top_k", 0) or 0),
        "eval_top_p": float(evaluation.get("top_p", 1.0)),
    }
    for metric in METRICS:
        row[metric] = _percent(results.get("ssd", {}).get(metric))
        row[f"base_{metric}"] = _percent(results.get("base", {}).get(metric))
        for side, prefix in (("ssd", ""), ("base", "base_")):
            by_difficulty = results.get(side, {}).get("by_difficulty", {})
            for level in DIFFICULTIES:
                value = by_difficulty.get(level, {})
                if isinstance(value, dict) and metric in value:
                    row[f"{prefix}{metric}_{level}"] = _percent(value[metric])
    row["eval_dir"] = results.get("ssd", {}).get("eval_dir", "")
    return row


def _row_from_trial(trial: pd.Series) -> dict[str, float | str]:
    """A row from Optuna's trials table alone (``params_*`` and ``user_attrs_*`` columns)."""

    def pick(*names: str, default: float = float("nan")) -> float:
        for name in names:
            if name in trial and pd.notna(trial[name]):
                return float(trial[name])
        return default

    t_train = pick("params_sampling.temperature", "user_attrs_t_train")
    t_eval = pick("params_evaluation.temperature", "user_attrs_t_eval")
    row: dict[str, float | str] = {
        "t_train": t_train,
        "t_eval": t_eval,
        "t_eff": pick("user_attrs_t_eff", default=t_train * t_eval),
        "top_k": pick("params_sampling.top_k", "user_attrs_sampling.top_k", default=0.0),
        "top_p": pick("params_sampling.top_p", "user_attrs_sampling.top_p", default=1.0),
        "eval_top_k": pick("params_evaluation.top_k", default=0.0),
        "eval_top_p": pick("params_evaluation.top_p", default=1.0),
        "eval_dir": "",
    }
    for metric in METRICS:
        row[metric] = _percent(pick(f"user_attrs_ssd.{metric}", default=float("nan")))
        row[f"base_{metric}"] = _percent(pick(f"user_attrs_base.{metric}", default=float("nan")))
    if math.isnan(float(row["pass@1"])) and "value" in trial and pd.notna(trial["value"]):
        row["pass@1"] = _percent(trial["value"])  # the objective is ssd.pass@1 by default
    return row


def _read_problems(eval_dir: str, base: Path) -> pd.DataFrame | None:
    if not eval_dir:
        return None
    path = Path(eval_dir)
    path = path if path.is_absolute() else base / path
    file = path / "problems.jsonl"
    if not file.exists():
        return None
    records = [json.loads(line) for line in file.read_text().splitlines() if line.strip()]
    return pd.DataFrame.from_records(records)


def outer_summary_rows(trials: pd.DataFrame) -> pd.Series:
    """Rows of a trials table that are nested outer trials (user attr ``outer_summary``, or,
    recorded before it, the ``nested.*`` metrics only an outer trial's results.json has)."""
    marked = pd.Series(False, index=trials.index)
    if "user_attrs_outer_summary" in trials:
        marked |= trials["user_attrs_outer_summary"].astype(str).str.lower() == "true"
    if "user_attrs_nested.n_evaluations" in trials:
        marked |= trials["user_attrs_nested.n_evaluations"].notna()
    return marked


def _study_from_trials(name: str, trials: pd.DataFrame | None, folder: Path | None) -> Study:
    """Combine a trials table and/or the per-trial ``results.json`` files of a sweep folder."""
    loaded = load_sweep_trials(folder, outer_summaries=True) if folder else []
    results = {t.number: t.results for t in loaded if not t.outer_summary}
    # A nested outer trial repeats its best inner point (an inner trial of its own): one run
    # per evaluated point, so it is left out whether read from its folder or from the table.
    skip = {t.number for t in loaded if t.outer_summary}
    if trials is not None and "state" in trials:
        trials = trials[trials["state"].astype(str).str.upper().str.endswith("COMPLETE")]
    if trials is not None:
        trials = trials[~outer_summary_rows(trials)]
    numbers = [int(n) for n in trials["number"]] if trials is not None else sorted(results)
    numbers = [n for n in numbers if n not in skip]
    rows, problems = [], {}
    for number in numbers:
        if number in results:
            row = _row_from_results(results[number])
        elif trials is not None:
            row = _row_from_trial(trials[trials["number"] == number].iloc[0])
        else:
            continue
        row["number"] = number
        # A relative eval_dir is taken from the trial's folder (folder-less trials: the cwd).
        trial_dir = folder / str(number) if folder is not None and number in results else Path()
        table = _read_problems(str(row["eval_dir"]), trial_dir)
        if table is not None:
            problems[len(rows)] = table
        rows.append(row)
    if not rows:
        raise ValueError(f"no finished trials found in {folder or name}")
    runs = pd.DataFrame(rows)
    runs["group"] = [group_label(k, p) for k, p in zip(runs["top_k"], runs["top_p"], strict=True)]
    if runs[["eval_top_k", "eval_top_p"]].drop_duplicates().shape[0] > 1:
        # A sweep that also varies evaluation truncation: T_eff only governs within one setting.
        runs["group"] = [
            f"{group} | eval {group_label(k, p)}"
            for group, k, p in zip(
                runs["group"], runs["eval_top_k"], runs["eval_top_p"], strict=True
            )
        ]
    return Study(name=name, runs=runs, problems=problems)


def load_sweep_dir(folder: Path) -> Study:
    """A sweep folder: ``trials.csv`` (optional) and ``<number>/results.json`` per trial."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"--study-dir {folder} is not a folder")
    trials_csv = folder / "trials.csv"
    trials = pd.read_csv(trials_csv) if trials_csv.exists() else None
    return _study_from_trials(folder.name, trials, folder)


def load_optuna_study(storage: str, study_name: str, folder: Path | None = None) -> Study:
    """An Optuna study (RDB URL or a journal file path); ``folder`` adds its results.json files."""
    import optuna

    if "://" not in storage:
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        storage_obj: object = JournalStorage(JournalFileBackend(storage))
    else:
        storage_obj = storage
    study = optuna.load_study(study_name=study_name, storage=storage_obj)
    return _study_from_trials(study_name, study.trials_dataframe(), folder)


# ---------------------------------------------------------------- fitting


def per_problem_matrix(study: Study, rows: list[int], metric: str) -> np.ndarray | None:
    """[runs, problems] per-problem pass@k in percent, aligned on problem_id; None if missing.

    ``metric`` is ``pass@k`` or ``pass@k_<difficulty>`` (only that difficulty's problems).
    """
    if not rows or any(i not in study.problems for i in rows):
        return None
    name, _, level = metric.partition("_")
    k = int(name.split("@")[1])
    columns = []
    for i in rows:
        table = study.problems[i]
        if level:
            if "difficulty" not in table:
                return None
            table = table[table["difficulty"] == level]
        if table.empty or (table["n"] < k).any():
            return None
        values = [
            pass_at_k(int(n), int(c), k) * 100 for n, c in zip(table["n"], table["c"], strict=True)
        ]
        columns.append(pd.Series(values, index=table["problem_id"].astype(str)))
    return pd.concat(columns, axis=1).to_numpy().T


def study_metrics(runs: pd.DataFrame) -> list[str]:
    """``pass@1``, ``pass@5`` and the per-difficulty columns (``pass@1_hard``...) present."""
    names = [*METRICS, *(f"{m}_{level}" for m in METRICS for level in DIFFICULTIES)]
    return [m for m in names if m in runs and runs[m].notna().any()]


@dataclass(frozen=True)
class GroupFit:
    group: str
    metric: str
    fit: QuadraticFit
    interval: PeakInterval


def fit_study(study: Study, *, n_boot: int = 2000, seed: int = 0) -> list[GroupFit]:
    """Quadratic fit and peak interval per truncation group and metric (with difficulties)."""
    fits = []
    for group, frame in study.runs.groupby("group", sort=True):
        for metric in study_metrics(frame):
            frame_m = frame[frame[metric].notna()]
            if frame_m["t_eff"].nunique() < 3:
                continue
            fit = fit_quadratic(frame_m["t_eff"], frame_m[metric])
            matrix = per_problem_matrix(study, list(frame_m.index), metric)
            interval = bootstrap_peak(
                frame_m["t_eff"], frame_m[metric], per_problem=matrix, n_boot=n_boot, seed=seed
            )
            fits.append(GroupFit(str(group), metric, fit, interval))
    return fits


def fits_table(study: Study, fits: list[GroupFit]) -> pd.DataFrame:
    rows = []
    for item in fits:
        frame = study.runs[study.runs["group"] == item.group]
        best = frame.loc[frame[item.metric].idxmax()]
        rows.append(
            {
                "study": study.name,
                "group": item.group,
                "metric": item.metric,
                "runs": item.fit.n,
                "r2": round(item.fit.r2, 4),
                "peak_t_eff": round(item.fit.peak_x, 3),
                "ci_low": round(item.interval.low, 3),
                "ci_high": round(item.interval.high, 3),
                "ci_resampled": item.interval.resampled,
                "ci_concave_share": round(item.interval.n_concave / item.interval.n_boot, 3),
                "peak_value": round(item.fit.peak_y, 2),
                "status": item.fit.status,
                "best_value": round(float(best[item.metric]), 2),
                "best_t_train": best["t_train"],
                "best_t_eval": best["t_eval"],
                "a": item.fit.a,
                "b": item.fit.b,
                "c": item.fit.c,
            }
        )
    return pd.DataFrame(rows)


def to_markdown(table: pd.DataFrame) -> str:
    """A Markdown table without the optional ``tabulate`` dependency."""
    columns = [c for c in table.columns if c not in ("a", "b", "c")]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join(str(row[c]) for c in columns) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- figures


def plot_heatmaps(study: Study, path: Path, metric: str = "pass@1") -> Path:
    """T_train x T_eval heat map of ``metric`` per truncation group (mean over repeats)."""
    groups = sorted(study.runs["group"].unique())
    fig, axes = plt.subplots(1, len(groups), figsize=(5.5 * len(groups), 4.5), squeeze=False)
    for ax, group in zip(axes[0], groups, strict=True):
        frame = study.runs[study.runs["group"] == group]
        grid = frame.pivot_table(index="t_train", columns="t_eval", values=metric, aggfunc="mean")
        image = ax.imshow(grid.to_numpy(), origin="lower", aspect="auto", cmap="viridis")
        ax.set_xticks(range(grid.shape[1]), [f"{v:g}" for v in grid.columns], rotation=90)
        ax.set_yticks(range(grid.shape[0]), [f"{v:g}" for v in grid.index])
        if grid.size <= 200:
            for (r, c), value in np.ndenumerate(grid.to_numpy()):
                if np.isfinite(value):
                    ax.text(c, r, f"{value:.1f}", ha="center", va="center", fontsize=6, color="w")
        ax.set(xlabel="T_eval", ylabel="T_train", title=f"{study.name}\n{group}: {metric}")
        fig.colorbar(image, ax=ax, label=f"{metric} (%)")
    return save_figure(fig, path)


def plot_teff(
    studies: list[tuple[Study, list[GroupFit]]],
    path: Path,
    metrics: tuple[str, ...] = METRICS,
) -> Path:
    """pass@k vs T_eff with the quadratic fit, its peak and interval; one column per study."""
    metrics = tuple(m for m in metrics if any(f.metric == m for _, fits in studies for f in fits))
    fig, axes = plt.subplots(
        len(metrics), len(studies), figsize=(6 * len(studies), 4 * len(metrics)), squeeze=False
    )
    for col, (study, fits) in enumerate(studies):
        for row, metric in enumerate(metrics):
            ax = axes[row][col]
            for i, item in enumerate(f for f in fits if f.metric == metric):
                color = f"C{i}"
                frame = study.runs[study.runs["group"] == item.group]
                ax.scatter(frame["t_eff"], frame[metric], s=14, color=color, alpha=0.7)
                xs = np.linspace(item.fit.x_min, item.fit.x_max, 200)
                label = f"{item.group}: R²={item.fit.r2:.2f}, peak {item.fit.peak_x:.2f}"
                if item.fit.status != "ok":
                    label += f" ({item.fit.status})"
                ax.plot(xs, item.fit.predict(xs), color=color, label=label)
                if item.fit.status == "ok":
                    ax.axvline(item.fit.peak_x, color=color, ls=":", lw=1)
                    if np.isfinite(item.interval.low):
                        ax.axvspan(item.interval.low, item.interval.high, color=color, alpha=0.12)
            base = study.base.get(metric)
            if base is None and f"base_{metric}" in study.runs:
                best_base = study.runs[f"base_{metric}"].max()
                base = float(best_base) if pd.notna(best_base) else None
            if base is not None:
                ax.axhline(base, color="k", ls="--", lw=1, label=f"base {base:.1f}")
            ax.set(xlabel="T_eff = T_train x T_eval", ylabel=f"{metric} (%)", title=study.name)
            ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_ssd_vs_base(study: Study, path: Path) -> Path | None:
    """Best SSD run vs the best decode-only base setting, overall and per difficulty."""
    if "base_pass@1" not in study.runs or study.runs["base_pass@1"].isna().all():
        return None
    runs = study.runs
    best_ssd = runs.loc[runs["pass@1"].idxmax()]
    best_base = runs.loc[runs["base_pass@1"].idxmax()]
    labels, ssd_values, base_values = [], [], []
    for metric in METRICS:
        for level in ("", *DIFFICULTIES):
            suffix = f"_{level}" if level else ""
            ssd_key, base_key = f"{metric}{suffix}", f"base_{metric}{suffix}"
            if ssd_key in runs and base_key in runs and pd.notna(best_ssd[ssd_key]):
                labels.append(f"{metric} {level or 'all'}")
                ssd_values.append(float(best_ssd[ssd_key]))
                base_values.append(float(best_base[base_key]))
    positions = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(labels)), 4))
    base_label = f"best base (T_eval {best_base['t_eval']:g})"
    ssd_label = f"best SSD (T_train {best_ssd['t_train']:g}, T_eval {best_ssd['t_eval']:g})"
    ax.bar(positions - 0.2, base_values, 0.4, label=base_label)
    ax.bar(positions + 0.2, ssd_values, 0.4, label=ssd_label)
    ax.set_xticks(positions, labels, rotation=30)
    ax.set(ylabel="%", title=f"{study.name}: SSD vs best decode-only base")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


# ---------------------------------------------------------------- command


def analyse(
    study: Study,
    out: Path,
    *,
    compare: Study | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, object]:
    """Fit, tabulate and plot ``study`` (beside ``compare`` when given) into ``out``.

    Returns:
        ``{"table": DataFrame, "figures": {name: path}}``.
    """
    out.mkdir(parents=True, exist_ok=True)
    fits = fit_study(study, n_boot=n_boot, seed=seed)
    columns = [(study, fits)]
    table = fits_table(study, fits)
    if compare is not None:
        compare_fits = fit_study(compare, n_boot=n_boot, seed=seed)
        columns.append((compare, compare_fits))
        table = pd.concat([table, fits_table(compare, compare_fits)], ignore_index=True)
    study.runs.to_csv(out / "runs.csv", index=False)
    table.to_csv(out / "fits.csv", index=False)
    (out / "fits.md").write_text(to_markdown(table))
    figures = {
        "teff_fit": plot_teff(columns, out / "teff_fit.png"),
        "heatmap": plot_heatmaps(study, out / "heatmap.png"),
    }
    by_difficulty = tuple(m for m in study_metrics(study.runs) if m not in METRICS)
    if by_difficulty:
        figures["teff_by_difficulty"] = plot_teff(
            [(study, fits)], out / "teff_by_difficulty.png", metrics=by_difficulty
        )
    comparison = plot_ssd_vs_base(study, out / "ssd_vs_base.png")
    if comparison is not None:
        figures["ssd_vs_base"] = comparison
    return {"table": table, "figures": figures}


def _log_to_wandb(args: argparse.Namespace, result: dict[str, object], out: Path) -> None:
    """Log the table and figures through the project's tracking module (the only wandb user)."""
    from ssd.config import TrackingConfig
    from ssd.tracking import log_image, log_table, open_run

    tracking = TrackingConfig(mode=args.wandb_mode, project=args.wandb_project)
    with open_run(
        tracking,
        name=f"teff_map-{args.study_name or Path(args.study_dir or args.paper).name}",
        group=args.study_name or Path(args.study_dir or args.paper).name,
        job_type="analysis",
        config=vars(args),
        dir=out,
    ) as run:
        log_table(run, "teff_fits", result["table"])
        for name, path in result["figures"].items():  # type: ignore[union-attr]
            log_image(run, name, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--study-dir", help="sweep folder with trials.csv and <n>/results.json")
    source.add_argument("--storage", help="Optuna storage URL or journal file (with --study-name)")
    source.add_argument("--paper", choices=sorted(PAPER_GRIDS), help="fit a published grid")
    parser.add_argument("--study-name", help="Optuna study name (with --storage)")
    parser.add_argument("--results-dir", help="with --storage: the sweep folder of results.json")
    parser.add_argument("--compare-paper", choices=sorted(PAPER_GRIDS), help="plot beside this")
    parser.add_argument("--out", default="outputs/analysis/teff_map", help="output folder")
    parser.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--wandb-mode", default="disabled", choices=["disabled", "offline", "online"]
    )
    parser.add_argument("--wandb-project", default="ssd")
    args = parser.parse_args(argv)
    if args.storage and not args.study_name:
        parser.error("--storage needs --study-name")
    if args.paper:
        study = load_paper_grid(args.paper)
    elif args.study_dir:
        study = load_sweep_dir(Path(args.study_dir))
    else:
        folder = Path(args.results_dir) if args.results_dir else None
        study = load_optuna_study(args.storage, args.study_name, folder)
    compare = load_paper_grid(args.compare_paper) if args.compare_paper else None
    out = Path(args.out)
    result = analyse(study, out, compare=compare, n_boot=args.n_boot, seed=args.seed)
    print(to_markdown(result["table"]))  # type: ignore[arg-type]
    for name, path in result["figures"].items():  # type: ignore[union-attr]
        print(f"{name}: {path}")
    if args.wandb_mode != "disabled":
        _log_to_wandb(args, result, out)


if __name__ == "__main__":
    main()
