"""Content-addressed cache of stage artifacts (samples, checkpoints, evaluations).

An artifact lives in ``<cache>/<stage>/<key>/`` where the key hashes everything that determines
it (model identity, prompts, the stage's settings, upstream keys). It is built in
``<key>.partial/`` (kept across crashes, so a stage can resume inside it), ``manifest.json`` is
written last, and the folder is renamed into place: a folder without a manifest is never read
as complete. A per-key file lock lets parallel sweep workers share one build.
Test: ``pytest tests/test_artifacts.py``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT_VERSION = 1  # bump when an artifact's layout changes: old entries then miss


def cache_key(payload: dict[str, Any]) -> str:
    """Stable 16-hex-digit hash of a JSON-able payload (sorted keys, no whitespace)."""
    text = json.dumps(
        {"v": FORMAT_VERSION, **payload}, sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON through a temporary file and a rename, so readers never see half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)


@dataclass
class Artifact:
    stage: str
    key: str
    path: Path
    hit: bool
    manifest: dict[str, Any]


class Cache:
    """The artifact store rooted at ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def lookup(self, stage: str, key: str) -> Artifact | None:
        final = self.path(stage, key)
        manifest = final / MANIFEST
        if not manifest.is_file():
            return None
        return Artifact(stage, key, final, True, json.loads(manifest.read_text()))

    @contextmanager
    def _lock(self, stage: str, key: str) -> Iterator[None]:
        lock_path = self.root / stage / f".{key}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def build(
        self,
        stage: str,
        payload: dict[str, Any],
        fn: Callable[[Path], dict[str, Any]],
    ) -> Artifact:
        """Return the cached artifact for ``payload``, building it with ``fn(work_dir)`` if absent.

        ``fn`` writes its files into ``work_dir`` (which may hold a crashed attempt's partial work
        to resume from) and returns a JSON-able summary that goes into the manifest.
        """
        key = cache_key({"stage": stage, **payload})
        found = self.lookup(stage, key)
        if found is not None:
            log.info("cache hit: %s/%s", stage, key)
            return found
        with self._lock(stage, key):
            found = self.lookup(stage, key)  # another worker may have finished it meanwhile
            if found is not None:
                log.info("cache hit: %s/%s (built by another worker)", stage, key)
                return found
            log.info("cache miss: %s/%s: building", stage, key)
            work = self.root / stage / f"{key}.partial"
            work.mkdir(parents=True, exist_ok=True)
            start = time.time()
            summary = fn(work)
            manifest = {
                "stage": stage,
                "key": key,
                "payload": payload,
                "summary": summary,
                "seconds": round(time.time() - start, 3),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            }
            write_json_atomic(work / MANIFEST, manifest)
            final = self.path(stage, key)
            if final.exists():  # a folder without a manifest is debris, never a result
                shutil.rmtree(final)
            os.replace(work, final)
        return Artifact(stage, key, self.path(stage, key), False, manifest)
