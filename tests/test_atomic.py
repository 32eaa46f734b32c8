"""acereason/atomic.py: files and directories appear complete and fsynced, or not at all (issue 16)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from acereason import atomic


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record what each ``os.fsync`` flushed (the path behind the descriptor) and whether the file was already
    at its destination name."""
    seen: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        seen.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(atomic.os, "fsync", spy)
    return seen


def test_write_text_fsyncs_the_file_before_the_rename_and_the_directory_after(tmp_path: Path,
                                                                               fsyncs: list[str]) -> None:
    target = tmp_path / "out.json"
    atomic.write_json(target, {"a": 1})
    assert target.read_text(encoding="utf-8") == '{\n  "a": 1\n}\n'
    assert len(fsyncs) == 2
    assert Path(fsyncs[0]).parent == tmp_path and Path(fsyncs[0]).name.startswith(".out.json.")  # the temp file
    assert Path(fsyncs[1]) == tmp_path  # the directory, after the rename
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
    assert (target.stat().st_mode & 0o777) == 0o666 & ~atomic.current_umask()


def test_a_failed_write_leaves_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    atomic.write_text(target, "old")
    with pytest.raises(RuntimeError), atomic.atomic_path(target) as tmp:
        tmp.write_text("half", encoding="utf-8")
        raise RuntimeError("bad row")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_atomic_dir_replaces_a_directory_whole_and_fsyncs_every_file(tmp_path: Path, fsyncs: list[str]) -> None:
    final = tmp_path / "step-00000002"
    final.mkdir()
    (final / "stale.txt").write_text("from before")
    with atomic.atomic_dir(final) as tmp:
        assert tmp.name == f".tmp-step-00000002-{os.getpid()}" and not any(tmp.iterdir())
        (tmp / "model.pt").write_bytes(b"w")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "state.json").write_text("{}")
        assert not (final / "model.pt").exists()  # nothing visible until complete
    assert sorted(str(p.relative_to(final)) for p in final.rglob("*")) == ["model.pt", "sub", "sub/state.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["step-00000002"]
    flushed = [Path(p).name for p in fsyncs]
    assert {"model.pt", "state.json"} <= set(flushed)  # every file, before the rename
    assert Path(fsyncs[-1]) == tmp_path  # then the parent directory


def test_a_failed_atomic_dir_leaves_the_previous_directory(tmp_path: Path) -> None:
    final = tmp_path / "ckpt"
    with atomic.atomic_dir(final) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(KeyboardInterrupt), atomic.atomic_dir(final) as tmp:
        (tmp / "a").write_text("2")
        raise KeyboardInterrupt
    assert (final / "a").read_text() == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]
