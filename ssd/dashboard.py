"""optuna-dashboard on one of our studies: a sweep folder, a journal file or an RDB URL.

    make dashboard STUDY=outputs/sweeps/tiny_demo               # the sweep's optuna.journal
    make dashboard STUDY=postgresql://ssd@dbhost:5432/ssd PORT=8081
    python -m ssd.dashboard outputs/sweeps/teff_toy --port 8080

Why a module and not the bare ``optuna-dashboard`` command: a sweep folder is what users have at
hand, and its study lives in ``<folder>/optuna.journal`` (the sweeper's default storage), which
the dashboard only opens through a journal backend. Bad input fails in one line, exit 2, before
the server starts. Needs the ``dashboard`` extra (``pip install -e '.[dashboard]'``).
Test: ``pytest tests/test_dashboard.py``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

JOURNAL_FILE = "optuna.journal"


def resolve_storage(study: str) -> tuple[Any, str]:
    """The Optuna storage named by ``study`` and a one-line description of it.

    Raises:
        ValueError: ``study`` is neither an RDB URL, a journal file nor a folder holding one.
    """
    import optuna
    from optuna.storages.journal import JournalFileBackend

    if "://" in study:
        return optuna.storages.RDBStorage(study, engine_kwargs={"pool_pre_ping": True}), study
    path = Path(study)
    if path.is_dir():
        path = path / JOURNAL_FILE
    if not path.is_file():
        raise ValueError(
            f"STUDY={study}: expected a sweep folder holding {JOURNAL_FILE}, a journal file, "
            "or an RDB URL (postgresql://..., sqlite:///...)"
        )
    return optuna.storages.JournalStorage(JournalFileBackend(str(path))), str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", help="sweep folder, journal file or RDB URL")
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to serve other machines")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    try:
        from optuna_dashboard import run_server
    except ImportError:
        sys.stderr.write("ssd.dashboard: optuna-dashboard missing: pip install -e '.[dashboard]'\n")
        return 2
    try:
        storage, text = resolve_storage(args.study)
    except ValueError as err:
        sys.stderr.write(f"ssd.dashboard: {err}\n")
        return 2
    sys.stderr.write(f"optuna-dashboard on {text}: http://{args.host}:{args.port}/\n")
    run_server(storage, host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
