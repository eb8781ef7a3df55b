"""Figures of a sweep, drawn once here for the sweep_summary callback and for analysis/.

The callback (``ssd.sweep_summary``) runs inside the sweeper and must not import analysis/, while
``analysis.sweep_report`` runs after the sweep and adds a fitted curve; both draw the same
``pass_vs_teff.png`` from the trials' own ``<number>/results.json`` (base, SSD and ideal metrics,
T_train, T_eval, T_eff, the trial's config), so the report's version only adds to the callback's.
``save_figure`` is the one way every figure of the project is written (analysis/ uses it too).
Tests: ``pytest tests/test_sweep_summary.py tests/test_sweep_report.py``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: clusters and CI have no display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ssd.records import RESULTS_FILE  # noqa: E402

PASS_VS_TEFF_FILE = "pass_vs_teff.png"
# results.json key of a nested search's outer trial (ssd.nested): its results repeat its best
# inner point, which is a trial (and a folder) of its own, so figures and fits leave it out.
OUTER_SUMMARY = "outer_summary"
# Up to this many (truncation, T_train) settings get one line each; more (a TPE sweep samples a
# new T_train per trial) would be a legend of single points, so SSD becomes a scatter coloured
# by T_train instead.
MAX_LINES = 8
_STYLES = ("-", "--", "-.", ":")
_MARKERS = ("o", "^", "D", "v", "P")


def save_figure(fig: Figure, path: Path, dpi: int = 120) -> Path:
    """Lay out, write the PNG, and free the figure (many figures per process)."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


@dataclass(frozen=True)
class SweepTrial:
    """One finished trial of a sweep folder: its number and its ``results.json``."""

    number: int
    results: dict[str, Any]

    @property
    def sampling(self) -> dict[str, Any]:
        return self.results["config"]["sampling"]

    @property
    def outer_summary(self) -> bool:
        """A nested outer trial's record (its best inner point again, plus the search)."""
        return is_outer_summary(self.results)

    def truncation(self) -> str:
        """Training-time truncation as a short label: ``k20 p0.95``, ``p0.9`` or ``none``."""
        k, p = self.sampling["top_k"], self.sampling["top_p"]
        parts = [f"k{k}" if k and k > 0 else "", f"p{p:g}" if p < 1 else ""]
        return " ".join(x for x in parts if x) or "none"

    @property
    def setting(self) -> tuple[str, float]:
        """(truncation, T_train): the trials sharing it share samples and a trained student."""
        return self.truncation(), self.results["t_train"]


def is_outer_summary(results: Mapping[str, Any]) -> bool:
    """Whether a results.json is a nested outer trial's (marked, or older: has a ``nested``
    block): every point it holds is also an inner trial's results.json."""
    return bool(results.get(OUTER_SUMMARY)) or "nested" in results


def load_sweep_trials(
    sweep_dir: Path, numbers: Collection[int] | None = None, *, outer_summaries: bool = False
) -> list[SweepTrial]:
    """The trials of a sweep folder that wrote ``<number>/results.json``, by number: every
    evaluated point once.

    Args:
        sweep_dir: the sweep folder (Hydra's sweep dir; trial folders are named by job number,
            which the ssd_optuna sweeper makes the trial number).
        numbers: keep only these trials (the callback passes the COMPLETE ones of trials.csv);
            None keeps every trial with results.
        outer_summaries: also return nested outer trials (``is_outer_summary``), whose point is
            an inner trial's too; left out by default so that no point is drawn or fitted twice.
    """
    trials = [
        SweepTrial(int(f.parent.name), json.loads(f.read_text()))
        for f in Path(sweep_dir).glob(f"*/{RESULTS_FILE}")
        if f.parent.name.isdigit() and (numbers is None or int(f.parent.name) in numbers)
    ]
    if not outer_summaries:
        trials = [t for t in trials if not t.outer_summary]
    return sorted(trials, key=lambda t: t.number)


def plotted_trials(trials: Sequence[SweepTrial], metric: str = "pass@1") -> list[SweepTrial]:
    """The trials ``plot_pass_vs_teff`` draws: those with ``ssd.<metric>``, no outer summary."""
    return [t for t in trials if metric in t.results.get("ssd", {}) and not t.outer_summary]


def _draw_lines(ax: Axes, trials: list[SweepTrial], metric: str) -> None:
    """One line per (truncation, T_train): line style per truncation, colour per setting."""
    settings = sorted({t.setting for t in trials})
    groups = sorted({group for group, _ in settings})
    styles = {g: _STYLES[i % len(_STYLES)] for i, g in enumerate(groups)}
    for i, (group, t_train) in enumerate(settings):
        mine = [t.results for t in trials if t.setting == (group, t_train)]
        pts = sorted((r["t_eff"], r["ssd"][metric]) for r in mine)
        label = f"SSD T_train {t_train:g}, trunc {group}"
        ax.plot(*zip(*pts, strict=True), "o" + styles[group], color=f"C{i}", label=label)
        ideal = sorted(
            (r["t_eff"], r["ideal"][metric]) for r in mine if metric in r.get("ideal", {})
        )
        if ideal:
            ax.plot(*zip(*ideal, strict=True), "x", color=f"C{i}", alpha=0.7)


def _draw_scatter(fig: Figure, ax: Axes, trials: list[SweepTrial], metric: str) -> None:
    """SSD points coloured by T_train (colour bar), one marker per truncation group."""
    t_trains = [t.results["t_train"] for t in trials]
    norm = Normalize(min(t_trains), max(t_trains))
    groups = sorted({t.truncation() for t in trials})
    scatter = None
    for i, group in enumerate(groups):
        mine = [t.results for t in trials if t.truncation() == group]
        colour = [r["t_train"] for r in mine]
        marker = _MARKERS[i % len(_MARKERS)]
        scatter = ax.scatter(
            [r["t_eff"] for r in mine],
            [r["ssd"][metric] for r in mine],
            c=colour,
            norm=norm,
            cmap="viridis",
            marker=marker,
            s=22,
            label=f"SSD, trunc {group}",
        )
        ideal = [r for r in mine if metric in r.get("ideal", {})]
        if ideal:
            ax.scatter(
                [r["t_eff"] for r in ideal],
                [r["ideal"][metric] for r in ideal],
                c=[r["t_train"] for r in ideal],
                norm=norm,
                cmap="viridis",
                marker="x",
                alpha=0.7,
            )
    if scatter is not None:
        fig.colorbar(scatter, ax=ax, label="T_train")


def plot_pass_vs_teff(
    trials: Sequence[SweepTrial],
    path: Path,
    metric: str = "pass@1",
    *,
    title: str | None = None,
    best: SweepTrial | None = None,
    fit: tuple[Sequence[float], Sequence[float]] | None = None,
    fit_label: str = "fit of SSD",
) -> Path | None:
    """``metric`` against T_eff: SSD per setting, the ideal student, the base model vs T_eval.

    The base model's score depends on T_eval alone (it is not trained), so it is drawn against
    T_eval on the same axis: where SSD rises above it is what SSD adds over decode-only tuning.

    Args:
        trials: the sweep's trials (``load_sweep_trials``); those without ``ssd.<metric>`` and
            nested outer summaries are left out (``plotted_trials``).
        path: the PNG to write.
        metric: a metric every evaluation reports (``pass@1``, ``pass@5``).
        title: default ``<metric> vs effective temperature``.
        best: a trial to mark with a vertical line at its T_eff (the sweep's best).
        fit: (x, y) of a curve fitted to the SSD points, drawn as ``fit_label``.

    Returns:
        ``path``, or None when no trial has the metric (nothing to draw).
    """
    trials = plotted_trials(trials, metric)
    if not trials:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    if len({t.setting for t in trials}) <= MAX_LINES:
        _draw_lines(ax, trials, metric)
    else:
        _draw_scatter(fig, ax, trials, metric)
    if any(metric in t.results.get("ideal", {}) for t in trials):
        ax.plot([], [], "x", color="k", label="ideal student (same colour)")
    base = sorted(
        {
            (t.results["t_eval"], t.results["base"][metric])
            for t in trials
            if metric in t.results.get("base", {})
        }
    )
    if base:
        ax.plot(*zip(*base, strict=True), "s:", color="gray", label="base model (x = T_eval)")
    if fit is not None:
        ax.plot(*fit, "k-", lw=1, alpha=0.4, label=fit_label)
    if best is not None:
        ax.axvline(
            best.results["t_eff"], color="k", ls=":", lw=1, label=f"best trial #{best.number}"
        )
    ax.set(
        xlabel="T_eff = T_train x T_eval",
        ylabel=metric,
        title=title or f"{metric} vs effective temperature",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save_figure(fig, path)
