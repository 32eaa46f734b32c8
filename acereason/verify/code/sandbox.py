"""Isolation layers for judged code (Linux), applied inside the worker processes.

What is isolated (each layer is probed when a worker starts; a missing one is reported loudly through
:data:`layers` / a ``RuntimeWarning`` and the guarantees that remain are listed in docs/verify-code.md):

* **network** - the worker lives in a fresh network namespace with no interfaces up: no connect, not
  even to 127.0.0.1 on the host (``net``).
* **filesystem** - the worker pivots into a fresh root built on a tmpfs that holds only read-only bind
  mounts of the system and Python directories (``/usr``, ``/etc``, the interpreter prefix and its
  site-packages) and ``/dev/{null,zero,random,urandom}``. The data being judged, the repository, home
  directories and the host's ``/tmp`` are simply not there (``fs``). Every run gets a fresh, private
  (0700) directory on a size-limited tmpfs, removed afterwards; nothing else is writable.
* **identity** - the program runs as its own unprivileged uid/gid (no groups, ``no_new_privs``), so
  rlimits bind and it cannot signal, ptrace or read other processes (``uid``). The trusted check runner
  of the same run shares that uid (so that the kernel may deliver the program's parent-death signal)
  but lives outside the program's PID namespace, where the program cannot name it, and is
  non-dumpable (no ptrace, no ``/proc/<pid>/mem``).
* **processes** - each run is PID 1 of a fresh PID namespace with its own ``/proc`` (``pid``): it sees
  only itself, and when it ends (or its supervisor is killed) the kernel kills everything it started,
  double-forked daemons included. ``RLIMIT_NPROC`` bounds fork bombs.
* **resources** - ``RLIMIT_AS`` (memory), ``RLIMIT_CPU`` (CPU seconds; the judge also enforces a wall
  deadline per test), ``RLIMIT_FSIZE`` (output files, hence output floods), ``RLIMIT_NOFILE``,
  ``RLIMIT_NPROC``, ``RLIMIT_CORE=0``; IPC and UTS namespaces are private (``ipc``).
* **environment** - the program sees a fixed, minimal environment (no variables of the judge).

What is not isolated: the kernel itself (no seccomp filter: a kernel exploit escapes), CPU caches and
timing side channels, and memory used by the kernel on the program's behalf (pipe and tmpfs pages are
bounded by sizes, not by a cgroup). Reading world-readable system files under ``/usr`` and ``/etc`` is
allowed. If namespaces cannot be created (an unprivileged container), the fallback is: unprivileged uid
plus rlimits plus a new session killed as a group; then the network is reachable and the filesystem is
protected only by file permissions - the judge warns once when that happens.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import platform
import resource
import signal
from collections.abc import Iterable

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 4, 36, 38
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41}.get(platform.machine())

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

RUNS_DIR = "/tmp"   # inside the new root: per-run directories live on their own tmpfs


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    """Move the calling process into new namespaces (``unshare(2)``)."""
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def mount(src: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    """``mount(2)``."""
    def enc(s):
        return (None if s is None else s.encode())
    _check(_libc.mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def prctl(option: int, arg: int) -> None:
    """``prctl(2)`` with one argument."""
    _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0),
                       ctypes.c_ulong(0)), "prctl")


def set_name(name: str) -> None:
    """Name the calling process (``PR_SET_NAME``: what ``ps``/``top``/``perf`` show), best effort."""
    buf = ctypes.create_string_buffer(name.encode()[:15])
    _libc.prctl(ctypes.c_int(15), buf, ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))


def _bind_ro(src: str, dst: str) -> None:
    if os.path.isdir(src):
        os.makedirs(dst, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if not os.path.exists(dst):
            open(dst, "a").close()
    mount(src, dst, None, MS_BIND | MS_REC)
    mount(None, dst, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _copy_symlink(path: str, root: str) -> None:
    dst = root + path
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if not os.path.lexists(dst):
        os.symlink(os.readlink(path), dst)


def build_root(ro_paths: Iterable[str], runs_size_mb: int) -> None:
    """Pivot the calling process (in a fresh mount namespace) into a minimal read-only root.

    The new root is a tmpfs holding read-only binds of ``ro_paths`` (symlinks such as Debian's
    ``/bin -> usr/bin`` are recreated, their targets bound), a few ``/dev`` nodes, an empty ``/proc``
    mount point and a ``/tmp`` tmpfs of ``runs_size_mb`` for run directories.
    """
    if _PIVOT_ROOT is None:
        raise OSError(0, f"pivot_root syscall number unknown on {platform.machine()}")
    todo = [os.path.abspath(p) for p in ro_paths]
    # The new root is assembled on a private tmpfs over a directory that holds none of the sources.
    root = next(b for b in ("/mnt", "/srv", "/media", "/tmp")
                if os.path.isdir(b) and not any(p == b or p.startswith(b + "/") for p in todo))
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=0755")
    # Run directories get their own tmpfs, mounted first so that sources living under /tmp (a venv in
    # a CI checkout) are bound on top of it rather than hidden by it.
    os.makedirs(root + RUNS_DIR, exist_ok=True)
    mount("tmpfs", root + RUNS_DIR, "tmpfs", MS_NOSUID | MS_NODEV, f"size={runs_size_mb}m,mode=0711")
    bound: list[str] = []
    while todo:
        p = todo.pop(0)
        if p == "/" or not os.path.lexists(p) or any(p == b or p.startswith(b + "/") for b in bound):
            continue
        if os.path.islink(p):
            _copy_symlink(p, root)
            todo.append(os.path.realpath(p))
        else:
            _bind_ro(p, root + p)
            bound.append(p)
    for dev in ("null", "zero", "full", "random", "urandom"):
        if os.path.exists("/dev/" + dev):
            dst = f"{root}/dev/{dev}"
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            open(dst, "a").close()
            mount("/dev/" + dev, dst, None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        with contextlib.suppress(FileExistsError):
            os.symlink(target, f"{root}/dev/{name}")
    os.makedirs(root + "/proc", exist_ok=True)
    old = root + "/.old"
    os.makedirs(old, exist_ok=True)
    os.chdir(root)
    _check(_libc.syscall(ctypes.c_long(_PIVOT_ROOT), b".", b".old"), "pivot_root")
    os.chdir("/")
    _check(_libc.umount2(b"/.old", ctypes.c_int(MNT_DETACH)), "umount old root")
    os.rmdir("/.old")
    mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)  # only /tmp stays writable


def mount_proc() -> None:
    """Mount a fresh ``/proc`` for the caller's PID namespace (call in a new mount namespace)."""
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def drop_privileges(uid: int, gid: int) -> None:
    """Become ``uid``/``gid`` with no supplementary groups and no way back (no-op if not root)."""
    if os.geteuid() != 0:
        return
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def set_limits(memory_mb: int | None, cpu_s: int | None, nproc: int, fsize_mb: int, nofile: int) -> None:
    """Apply the rlimits of a judged process (soft = hard, so the program cannot raise them)."""
    def lim(which: int, value: int) -> None:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(which, (value, value))

    if memory_mb:
        lim(resource.RLIMIT_AS, memory_mb << 20)
    if cpu_s:
        lim(resource.RLIMIT_CPU, cpu_s)
    lim(resource.RLIMIT_NPROC, nproc)
    lim(resource.RLIMIT_FSIZE, fsize_mb << 20)
    lim(resource.RLIMIT_NOFILE, nofile)
    lim(resource.RLIMIT_CORE, 0)


def raise_stack_limit(mb: int) -> None:
    """Allow deep recursion (``sys.setrecursionlimit`` users) up to ``mb`` of main-thread stack."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    want = mb << 20
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_STACK, (want, hard))


def set_default_thread_stack(mb: int) -> None:
    """Make ``mb`` MiB the stack size of threads created without an explicit one.

    glibc takes that default from ``RLIMIT_STACK`` at process start, and the worker starts with a 1 GiB
    stack limit (deep recursion in the main thread), so a plain ``threading.Thread`` would try to map
    1 GiB and fail under ``RLIMIT_AS``. ``pthread_setattr_default_np`` sets what an ordinary process has
    (8 MiB under the usual 8 MiB ``ulimit -s``); ``threading.stack_size()`` still reports 0.
    """
    try:
        setdefault = _libc.pthread_setattr_default_np
    except AttributeError:
        return
    attr = ctypes.create_string_buffer(256)  # larger than any pthread_attr_t
    if _libc.pthread_attr_init(attr) != 0:
        return
    try:
        if _libc.pthread_attr_setstacksize(attr, ctypes.c_size_t(mb << 20)) == 0:
            setdefault(attr)
    finally:
        _libc.pthread_attr_destroy(attr)


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL the caller when its parent dies (set after any uid change)."""
    with contextlib.suppress(OSError):
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def close_fds_except(keep: Iterable[int]) -> None:
    """Close every descriptor above 2 except ``keep``."""
    keep_sorted = sorted(k for k in set(keep) if k > 2)
    lo = 3
    for k in keep_sorted:
        if lo < k:
            os.closerange(lo, k)
        lo = k + 1
    os.closerange(lo, 1 << 16)
