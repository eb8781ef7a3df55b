"""Sandboxed execution of untrusted candidate programs; the files show the trust boundary.

- ``pool`` (TRUSTED, in the caller's process): ``Executor``, a pool of sandbox servers; compares
  STDIN/FUNCTIONAL outputs (``ssd.evaluation.grading``).
- ``server`` (TRUSTED, one ``python -I`` process per worker, root where available): namespaces,
  the filesystem view (``fsview``), the seccomp filter (``seccomp``); forks one child per
  candidate; for HumanEval forks a judge that runs the test code against a proxy.
- ``child`` (UNTRUSTED: the candidate's process): lock-down, then the program; answers calls.
- ``codec`` (the boundary): exact builtin values as tagged JSON; ``wire``: pool<->server framing.
- ``verdict``: statuses and how outcomes become verdicts.

Threat model (Linux; the strong layers need root, which the project's machines and CI have):

Covered
- Forged passes: no verdict is decided in the candidate's process. HumanEval tests run in the
  trusted judge; return values cross as data (``codec``), so always-equal objects, int/str
  subclasses with their own ``__eq__``, generators and other objects are wrong answers; an
  early ``sys.exit``/``os._exit`` (at import or in the function), a crash or a missing result is
  a failure; patching builtins, ``AssertionError`` or the prompt's helpers only changes the
  candidate's own process. There is no token or other secret; the test code and expected
  values never enter the server the candidate is forked from.
- Host secrets: a minimal root (``fsview``): read-only /usr, /lib*, the standard library (site-
  packages masked), /dev nodes, a private /tmp and working folder, /proc of the server's own PID
  namespace with ``hidepid``. No /root, /home, /etc, venv, project, parent's /proc or
  environment (the child's environment is PATH/LANG/HOME/TMPDIR only). The candidate runs as a
  throw-away uid with no capabilities (empty bounding set, NO_NEW_PRIVS) wherever the
  interpreter is installed.
- Other processes: PID namespace per server (candidates see and can signal only their own
  processes); seccomp deny-list (ptrace, process_vm_*, bpf, mount, unshare, setns, keyctl, ...).
- Fork bombs (RLIMIT_NPROC per worker uid; the whole namespace is killed after each run),
  memory (RLIMIT_AS), CPU (RLIMIT_CPU + wall clock), output and files (RLIMIT_FSIZE, capped tmpfs),
  fds (RLIMIT_NOFILE), network (empty network namespace).

Not covered
- Kernel exploits through allowed syscalls; timing side channels; reading world-readable files
  under /usr.
- State shared between the tests of ONE stdin/functional candidate (as in LiveCodeBench).
- Without root or where the kernel refuses a layer: that layer is off, logged once per pool
  and listed in ``Executor.isolation["notes"]``.

Tests: ``pytest tests/test_execute.py tests/test_hostile.py tests/test_execute_codec.py``;
throughput: ``make bench``.
"""

from ssd.evaluation.execute.child import LCB_PRELUDE, LCB_PRELUDE_MODULES
from ssd.evaluation.execute.pool import Executor
from ssd.evaluation.execute.verdict import (
    NO_CODE,
    PASSED,
    RESOURCE_LIMIT,
    RUNTIME_ERROR,
    STATUSES,
    SYNTAX_ERROR,
    TIMEOUT,
    WRONG_ANSWER,
    ExecutionResult,
)

__all__ = [
    "LCB_PRELUDE",
    "LCB_PRELUDE_MODULES",
    "NO_CODE",
    "PASSED",
    "RESOURCE_LIMIT",
    "RUNTIME_ERROR",
    "STATUSES",
    "SYNTAX_ERROR",
    "TIMEOUT",
    "WRONG_ANSWER",
    "ExecutionResult",
    "Executor",
]
