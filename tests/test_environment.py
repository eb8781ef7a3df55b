"""results.json records the package versions a run used, and which differ from the lock."""

from __future__ import annotations

from importlib import metadata

from ssd.environment import LOCK_FILE, environment, lock_mismatches, read_lock


def test_lock_pins_the_installed_core_packages() -> None:
    """The shipped lock parses and pins torch's CPU build and the packages that shape numbers."""
    pins = read_lock()
    assert LOCK_FILE.is_file() and pins["torch"].endswith("+cpu")
    for name in ("transformers", "trl", "accelerate", "numpy", "optuna"):
        assert name in pins, name
    assert "ssd" not in pins  # the project itself is installed from the tree


def test_environment_lists_versions_and_mismatches(tmp_path) -> None:
    env = environment()
    assert env["packages"]["torch"] == metadata.version("torch")
    assert env["packages"]["transformers"] == metadata.version("transformers")
    assert "vllm" not in env["packages"] or env["packages"]["vllm"]
    lock = tmp_path / "lock.txt"
    lock.write_text("# header\nnumpy==0.0.1\n    # via x\nscipy==1.0 ; python_version>'3'\n")
    pins = read_lock(lock)
    assert pins == {"numpy": "0.0.1", "scipy": "1.0"}
    installed = {"numpy": "2.4.6", "scipy": "1.0", "pandas": "3.0"}
    assert lock_mismatches(installed, pins) == {"numpy": ["2.4.6", "0.0.1"]}
