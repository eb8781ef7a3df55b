"""The beyond-the-paper table: each SSD variant's best pass@1 against the best-tuned base.

Reads a finished ``+sweep=beyond`` folder (``sweeps/beyond.yaml``): trials carry their variant in
``results.json["config"]["trial"]["variant"]``. For every variant it re-uses the sweep report's
problem bootstrap (``analysis.sweep_report.selection_bootstrap``: the best T_eval of the variant
and of the base are re-selected inside every resample) twice: against the best-tuned base, and
against raw SSD. Compute is what the trial's students cost (``results.json["compute"]``):
completion tokens sampled over every round and equal-compute extra, samples trained on, SFT steps.
Writes ``beyond.md`` (the README table) and ``beyond.json`` into the sweep folder.

    python -m analysis.beyond_report outputs/sweeps/beyond_tiny
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from analysis.sweep_report import _matrix, load_trials, selection_bootstrap

ORDER = (
    "raw",
    "verified",
    "verified_equal",
    "rounds2",
    "rounds3",
    "n4",
    "prompts_quarter",
    "prompts_4x",
)
LABELS = {
    "raw": "raw SSD (paper)",
    "verified": "verified SSD",
    "verified_equal": "verified SSD, equal set size",
    "rounds2": "2 rounds",
    "rounds3": "3 rounds",
    "n4": "N=4 samples per prompt",
    "prompts_quarter": "1/4x prompts",
    "prompts_4x": "4x prompts",
}


def _pp(x: float) -> str:
    return f"{x * 100:+.1f}"


def beyond_rows(sweep_dir: Path, n_boot: int = 2000) -> list[dict[str, Any]]:
    """One row per variant present in the sweep folder, in ``ORDER``."""
    trials = load_trials(sweep_dir)
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for t in trials:
        variant = str(t.results["config"].get("trial", {}).get("variant", "raw"))
        by_variant.setdefault(variant, []).append(t.results)
    base_dirs = sorted({t.results["base"]["eval_dir"] for t in trials})
    raw_dirs = [r["ssd"]["eval_dir"] for r in by_variant.get("raw", [])]
    rows = []
    for variant in sorted(by_variant, key=lambda v: (ORDER.index(v) if v in ORDER else 99, v)):
        results = by_variant[variant]
        dirs = [r["ssd"]["eval_dir"] for r in results]
        m, _ = _matrix(dirs + base_dirs + raw_dirs)
        ssd_m, base_m, raw_m = (
            m[: len(dirs)],
            m[len(dirs) : len(dirs) + len(base_dirs)],
            m[len(dirs) + len(base_dirs) :],
        )
        vs_base = selection_bootstrap(ssd_m, base_m, n_boot=n_boot)
        vs_raw = selection_bootstrap(ssd_m, raw_m, n_boot=n_boot) if raw_dirs else None
        best = results[vs_base.ssd_index]
        compute = best.get("compute", {})
        rows.append(
            {
                "variant": variant,
                "label": LABELS.get(variant, variant),
                "trials": len(results),
                "best_pass@1": vs_base.ssd_best,
                "best_t_eval": best["t_eval"],
                "base_best_pass@1": vs_base.base_best,
                "vs_base": [vs_base.diff, vs_base.low, vs_base.high],
                "vs_raw": [vs_raw.diff, vs_raw.low, vs_raw.high] if vs_raw else None,
                "num_problems": vs_base.num_problems,
                "trained_on": int(best["training"]["filter"]["kept"]),
                "sampled": int(compute.get("sampled", 0)),
                "sampled_tokens": int(compute.get("sampled_tokens", 0)),
                "train_steps": int(compute.get("train_steps", 0)),
            }
        )
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| variant | best pass@1 (T_eval) | vs best base, pp [95% CI] | vs raw SSD, pp [95% CI] "
        "| trained on | samples drawn | tokens drawn | SFT steps |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        d, lo, hi = r["vs_base"]
        raw = (
            "-"
            if r["vs_raw"] is None or r["variant"] == "raw"
            else f"{_pp(r['vs_raw'][0])} [{_pp(r['vs_raw'][1])}, {_pp(r['vs_raw'][2])}]"
        )
        lines.append(
            f"| {r['label']} | {r['best_pass@1']:.3f} ({r['best_t_eval']:g}) "
            f"| {_pp(d)} [{_pp(lo)}, {_pp(hi)}] | {raw} | {r['trained_on']} | {r['sampled']} "
            f"| {r['sampled_tokens']} | {r['train_steps']} |"
        )
    if rows:
        lines.append(
            f"\nBest-tuned base: pass@1 {rows[0]['base_best_pass@1']:.3f} over "
            f"{rows[0]['num_problems']} problems; intervals: problem bootstrap with the best "
            "T_eval re-selected in every resample."
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--n-boot", type=int, default=2000)
    args = parser.parse_args(argv)
    rows = beyond_rows(args.sweep_dir, n_boot=args.n_boot)
    table = markdown(rows)
    (args.sweep_dir / "beyond.md").write_text(table)
    (args.sweep_dir / "beyond.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(table)


if __name__ == "__main__":
    main()
