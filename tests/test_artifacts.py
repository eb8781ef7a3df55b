"""Content-addressed cache: stable keys, manifest-last completion, resume inside .partial."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssd.artifacts import MANIFEST, Cache, cache_key


def test_key_is_stable_and_order_independent() -> None:
    assert cache_key({"a": 1, "b": [1, 2]}) == cache_key({"b": [1, 2], "a": 1})
    assert cache_key({"a": 1}) != cache_key({"a": 2})


def test_build_then_hit(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    calls: list[Path] = []

    def build(work: Path) -> dict[str, int]:
        calls.append(work)
        (work / "data.txt").write_text("x")
        return {"n": 1}

    first = cache.build("samples", {"k": 1}, build)
    second = cache.build("samples", {"k": 1}, build)
    assert not first.hit and second.hit and len(calls) == 1
    assert (first.path / MANIFEST).is_file() and (first.path / "data.txt").read_text() == "x"
    assert second.manifest["summary"] == {"n": 1}


def test_crash_leaves_no_complete_artifact_and_resume_sees_partial_work(tmp_path: Path) -> None:
    cache = Cache(tmp_path)

    def crash(work: Path) -> dict[str, int]:
        (work / "shard-0.jsonl").write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        cache.build("samples", {"k": 2}, crash)
    key = cache_key({"stage": "samples", "k": 2})
    assert cache.lookup("samples", key) is None
    seen: list[str] = []

    def resume(work: Path) -> dict[str, int]:
        seen.extend(p.name for p in work.iterdir())
        return {}

    art = cache.build("samples", {"k": 2}, resume)
    assert seen == ["shard-0.jsonl"] and not art.hit


def test_folder_without_manifest_is_not_a_hit(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    key = cache_key({"stage": "train", "k": 3})
    (tmp_path / "train" / key).mkdir(parents=True)  # debris from elsewhere
    art = cache.build("train", {"k": 3}, lambda work: {"ok": True})
    assert not art.hit and (art.path / MANIFEST).is_file()
