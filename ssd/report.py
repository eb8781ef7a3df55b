"""Terminal summaries of results (rich tables): what a person reads at the end of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ssd.config import is_number
from ssd.cost import format_cost

POLICIES = ("base", "ssd", "ideal")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def trial_table(results: dict[str, Any]) -> Table:
    """Metrics of base, SSD (and ideal) side by side, with the SSD - base difference."""
    present = [p for p in POLICIES if p in results]
    metrics = [k for k, v in results["ssd"].items() if is_number(v) and k != "num_problems"]
    title = (
        f"T_train={results['t_train']:g}  T_eval={results['t_eval']:g}"
        f"  T_eff={results['t_eff']:.3g}"
        f"  objective {results['objective_name']} = {results['objective']:.4f}"
    )
    table = Table(title=title)
    table.add_column("metric")
    for name in present:
        table.add_column(name, justify="right")
    table.add_column("ssd - base", justify="right")
    for metric in metrics:
        row = [_fmt(results[p].get(metric)) for p in present]
        table.add_row(metric, *row, _fmt(results["delta"].get(metric)))
    return table


def print_trial_summary(
    results: dict[str, Any], out_dir: Path, console: Console | None = None
) -> None:
    console = console or Console()
    console.print(trial_table(results))
    hits = ", ".join(f"{k}={'hit' if v['hit'] else 'miss'}" for k, v in results["cache"].items())
    console.print(f"cache: {hits}")
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in results["timings"].items())
    console.print(f"timings: {timings}")
    if "cost" in results:
        console.print(f"cost: {format_cost(results['cost'])}")
    console.print(f"results: {out_dir / 'results.json'}")
