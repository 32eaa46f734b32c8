"""Atomic file writes that honour the umask: the one way every stage puts a file in place.

A write goes to a temp file beside the destination, is fsynced, and is renamed over it only once complete
(then the directory is fsynced, so the rename itself survives a power cut), so a crash or a bad input row
never leaves half a file and never destroys the previous one. :func:`atomic_dir` does the same for a whole
directory (a checkpoint). ``mkstemp`` creates its
file mode 0600 whatever the umask; left so, outputs on a shared filesystem are unreadable to other users and
to Ray workers. The final file gets the mode a plain ``open(path, "w")`` would give (0666 minus the umask).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (``os.umask`` sets it to read it,
    which races other threads creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success give it the umask's mode and rename it to ``path``.

    On any exception the temp file is removed and an existing ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())
        fsync_file(tmp)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fsync_file(path: str | os.PathLike[str]) -> None:
    """Flush ``path``'s data to the disk (whoever wrote it has closed it)."""
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush directory ``path``'s entries (a rename into it) to the disk; a no-op where the OS cannot open a
    directory (Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temp directory beside ``path`` (``.tmp-<name>-<pid>``); on success fsync every file in
    it, remove a previous ``path`` and rename the temp directory to ``path``.

    On any exception the temp directory is removed and an existing ``path`` is left untouched. Readers that
    must never see a half directory look for ``path`` only (a leftover ``.tmp-*`` from a killed process is
    not it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{path.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
        for f in sorted(tmp.rglob("*")):  # data reaches the disk before the rename makes it visible
            if f.is_file():
                fsync_file(f)
        fsync_dir(tmp)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike[str], obj: Any, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")
