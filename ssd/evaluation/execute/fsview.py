"""The candidate's view of the filesystem: a fresh tmpfs root with read-only binds, built once.

Each sandbox server (already in its own mount namespace, as root) builds this root at start and
``pivot_root``s into it, detaching the host's tree; every candidate it forks inherits the view.
What the root holds:

- ``/usr``, ``/bin``, ``/lib*``, ``/sbin`` (or their merged-usr symlinks): read-only, nosuid;
- the interpreter's standard library and ``lib-dynload`` at their own paths, read-only, with any
  ``site-packages`` inside masked by an empty read-only tmpfs (the prelude needs the standard
  library only), reached through folders of mode 0755 created on the tmpfs: so a Python
  installed under ``/root`` is importable by the unprivileged candidate without lending it any
  capability, and nothing else of ``/root`` or ``/home`` exists;
- ``/dev/{null,zero,full,random,urandom}`` bound from the host, an empty ``/dev/shm``;
- ``/proc``: a new procfs of the server's PID namespace with ``hidepid=invisible``, so a
  candidate lists only its own processes (no ``/proc/1/environ``, no parent);
- ``/tmp`` (1777) and ``/sandbox`` (0711, the candidates' private working folders), emptied by
  the server after every candidate.

No ``/etc``, ``/home``, ``/root`` contents, ``/var``, ``/run``, ``/sys``, the venv, the
project or the host's ``/tmp``.

Why not bubblewrap: Debian 12 has it (0.8.0) but not installed by default, so CI would need an
apt step; it would build the same root (it is one exec per server, so it would cost about the
same); doing it in-process keeps the server a single ``python -I`` process, needs nothing beyond
the standard library and ctypes, and lets the server keep running its trusted judge inside the
same view. Cost, measured on the shared 2-core dev VM under load (load average ~10): building
the root and pivoting takes 20-45 ms per server, once (the whole server start with namespaces,
judge and preloads: about 0.5 s); nothing per candidate.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from typing import Any

_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 0x4000, 1 << 18
_MNT_DETACH = 2
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_DEVICES = ("null", "zero", "full", "random", "urandom")
SANDBOX_DIR = "/sandbox"


class FsViewError(OSError):
    """A step of building the root failed (the server then reports the layer as off)."""


def _check(result: int, libc: ctypes.CDLL, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise FsViewError(err, f"{what}: {os.strerror(err)}")


def python_paths() -> list[str]:
    """Folders of the running interpreter that candidates need: stdlib and lib-dynload
    (a venv's own folder holds only site-packages, which candidates do not get)."""
    paths = {os.path.dirname(os.__file__)}
    import math

    if getattr(math, "__file__", None):  # lib-dynload (or wherever extension modules live)
        paths.add(os.path.dirname(math.__file__))
    return sorted({os.path.realpath(p) for p in paths if os.path.isdir(p)})


def _under(path: str, folders: list[str]) -> bool:
    return any(path == f or path.startswith(f + "/") for f in folders)


def build_root(libc: ctypes.CDLL, size_bytes: int) -> dict[str, Any]:
    """Build the root and pivot into it (the caller is root in a fresh mount namespace).

    Returns what was done: ``{"proc": "hidepid=invisible" | ..., "python": [bound paths]}``.
    Raises FsViewError if a step fails (the caller degrades and logs).
    """
    mount = libc.mount
    _check(mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None), libc, "make / private")
    new_root = "/dev/shm" if os.path.isdir("/dev/shm") else None
    if new_root is None:
        raise FsViewError(2, "no /dev/shm to hold the new root")
    opts = f"mode=0755,size={size_bytes},nr_inodes=65536".encode()
    _check(
        mount(b"tmpfs", new_root.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, opts), libc, "tmpfs"
    )

    def target(path: str) -> str:
        return new_root + path

    def bind(source: str, read_only: bool = True, flags: int = _MS_NOSUID | _MS_NODEV) -> None:
        dest = target(source)
        if os.path.isdir(source):
            os.makedirs(dest, mode=0o755, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(dest), mode=0o755, exist_ok=True)
            open(dest, "a").close()
        _check(mount(source.encode(), dest.encode(), None, _MS_BIND, None), libc, f"bind {source}")
        remount = _MS_REMOUNT | _MS_BIND | flags | (_MS_RDONLY if read_only else 0)
        _check(mount(None, dest.encode(), None, remount, None), libc, f"remount {source}")

    os.umask(0o022)
    system = []
    for path in _SYSTEM_DIRS:
        if os.path.islink(path):
            os.symlink(os.readlink(path), target(path))
        elif os.path.isdir(path):
            bind(path)
            system.append(path)
    bound = []
    for path in python_paths():
        if not _under(path, system):
            bind(path)
            bound.append(path)
        for sub in ("site-packages", "dist-packages"):
            masked = os.path.join(path, sub)
            if os.path.isdir(masked) and not os.path.islink(masked):
                opts = b"mode=0555,size=4k,nr_inodes=4"
                flags = _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
                _check(mount(b"tmpfs", target(masked).encode(), b"tmpfs", flags, opts), libc, sub)
    os.makedirs(target("/dev"), mode=0o755)
    for name in _DEVICES:
        if os.path.exists(f"/dev/{name}"):
            bind(f"/dev/{name}", read_only=False, flags=_MS_NOSUID)
    for path, mode in (("/tmp", 0o1777), ("/dev/shm", 0o1777), (SANDBOX_DIR, 0o711)):
        os.makedirs(target(path), exist_ok=True)
        os.chmod(target(path), mode)
    os.makedirs(target("/proc"), mode=0o555)
    proc = None
    for options in (b"hidepid=invisible", b"hidepid=2", None):
        flags = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
        if mount(b"proc", target("/proc").encode(), b"proc", flags, options) == 0:
            proc = (options or b"visible").decode()
            break
    if proc is None:
        raise FsViewError(ctypes.get_errno(), "cannot mount /proc")
    old = target("/.old-root")
    os.makedirs(old, mode=0o700)
    number = _SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise FsViewError(38, f"pivot_root number unknown on {platform.machine()}")
    _check(libc.syscall(number, new_root.encode(), old.encode()), libc, "pivot_root")
    os.chdir("/")
    _check(libc.umount2(b"/.old-root", _MNT_DETACH), libc, "detach the old root")
    os.rmdir("/.old-root")
    # The root tmpfs itself read-only: the writable places are the folders' own tmpfs below.
    writable = ["/dev/shm", SANDBOX_DIR]
    if not any(_under(p, ["/tmp"]) for p in bound):  # an interpreter under /tmp stays visible
        writable.append("/tmp")
    for path in writable:
        mode = 0o711 if path == SANDBOX_DIR else 0o1777
        opts = f"mode={mode:o},size={size_bytes},nr_inodes=65536".encode()
        _check(mount(b"tmpfs", path.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, opts), libc, path)
    _check(
        mount(None, b"/", None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV, None),
        libc,
        "read-only root",
    )
    return {"proc": proc, "python": bound, "executable": sys.executable}


def empty_folder(path: str) -> None:
    """Remove everything inside ``path`` (what the last candidate left in /tmp)."""
    import shutil

    try:
        entries = os.listdir(path)
    except OSError:
        return
    for name in entries:
        full = os.path.join(path, name)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full, ignore_errors=True)
        else:
            try:
                os.unlink(full)
            except OSError:
                pass
