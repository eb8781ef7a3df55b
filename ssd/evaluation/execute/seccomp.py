"""A seccomp deny-list for candidate processes (second layer under the namespaces and uid).

The filter is a classic BPF program built once per sandbox server and loaded by each child
(``prctl(PR_SET_SECCOMP)``, after ``PR_SET_NO_NEW_PRIVS``: a few microseconds). Denied with EPERM:
tracing and reading other processes (ptrace, process_vm_readv/writev, kcmp), kernel attack surface
that a grader never needs (bpf, perf_event_open, userfaultfd, io_uring, keyrings, modules, kexec),
and anything that changes the filesystem view or namespaces (mount, umount2, pivot_root, chroot,
unshare, setns, open_by_handle_at, clone with a CLONE_NEW* flag). ``clone3`` answers ENOSYS so
that libc falls back to ``clone``, whose flags the filter can read. A process of another
architecture ABI (x32 syscalls, or an i386 binary) is killed.
Only x86_64 and aarch64 are known; elsewhere ``build_filter`` returns None and the server logs
that the layer is off. Tests: ``pytest tests/test_hostile.py -k seccomp``.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

# Syscall numbers: (x86_64, aarch64); None where the syscall does not exist on that arch.
_DENIED = {
    "ptrace": (101, 117),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "kcmp": (312, 272),
    "bpf": (321, 280),
    "perf_event_open": (298, 241),
    "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    "add_key": (248, 217),
    "request_key": (249, 218),
    "keyctl": (250, 219),
    "init_module": (175, 105),
    "finit_module": (313, 273),
    "delete_module": (176, 106),
    "kexec_load": (246, 104),
    "kexec_file_load": (320, 294),
    "mount": (165, 40),
    "umount2": (166, 39),
    "pivot_root": (155, 41),
    "chroot": (161, 51),
    "unshare": (272, 97),
    "setns": (308, 268),
    "open_by_handle_at": (304, 265),
    "name_to_handle_at": (303, 264),
    "fsopen": (430, 430),
    "fsmount": (432, 432),
    "move_mount": (429, 429),
    "open_tree": (428, 428),
    "mount_setattr": (442, 442),
    "swapon": (167, 224),
    "swapoff": (168, 225),
    "reboot": (169, 142),
    "acct": (163, 89),
    "quotactl": (179, 60),
    "syslog": (103, 116),
    "personality": (135, 92),
}
_CLONE = (56, 220)
_CLONE3 = (435, 435)
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_CLONE_NEW_FLAGS = 0x7E020000  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
_CLONE_NEWTIME = 0x00000080

# BPF opcodes and seccomp constants.
_LD_W_ABS, _JEQ_K, _JGE_K, _JSET_K, _RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
_RET_ALLOW, _RET_ERRNO, _RET_KILL_PROCESS = 0x7FFF0000, 0x00050000, 0x80000000
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def build_filter() -> bytes | None:
    """The BPF program (bytes of sock_filter), or None on an unknown architecture."""
    machine = platform.machine()
    arch = {"x86_64": 0, "aarch64": 1}.get(machine)
    if arch is None:
        return None
    numbers = sorted({v[arch] for v in _DENIED.values() if v[arch] is not None})
    deny = _RET_ERRNO | errno.EPERM
    prog = [
        _insn(_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        _insn(_JEQ_K, 1, 0, _AUDIT_ARCH[machine]),
        _insn(_RET_K, 0, 0, _RET_KILL_PROCESS),
        _insn(_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
    ]
    if machine == "x86_64":  # x32 ABI syscalls carry bit 30
        prog += [_insn(_JGE_K, 0, 1, 0x40000000), _insn(_RET_K, 0, 0, _RET_KILL_PROCESS)]
    for number in numbers:
        prog += [_insn(_JEQ_K, 0, 1, number), _insn(_RET_K, 0, 0, deny)]
    prog += [_insn(_JEQ_K, 0, 1, _CLONE3[arch]), _insn(_RET_K, 0, 0, _RET_ERRNO | errno.ENOSYS)]
    prog += [
        _insn(_JEQ_K, 0, 4, _CLONE[arch]),
        _insn(_LD_W_ABS, 0, 0, 16),  # low 32 bits of args[0] (little endian): the flags
        _insn(_JSET_K, 0, 1, _CLONE_NEW_FLAGS | _CLONE_NEWTIME),
        _insn(_RET_K, 0, 0, deny),
        _insn(_LD_W_ABS, 0, 0, 0),  # reload nr (not needed after; keeps the layout simple)
        _insn(_RET_K, 0, 0, _RET_ALLOW),
    ]
    return b"".join(prog)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install(libc: ctypes.CDLL, program: bytes) -> bool:
    """Load ``program`` into the calling process (needs NO_NEW_PRIVS or CAP_SYS_ADMIN)."""
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    return libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) == 0
