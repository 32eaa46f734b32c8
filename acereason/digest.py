"""Content digests of files: what resumable results are keyed on (curate stages, eval outputs, train runs).

Paths and modification times do not identify content (a file edited in place keeps its path; a copy gets a
new mtime and the same bytes), so every check that "this input is still the one a result was made from"
hashes bytes. Torch-free and stdlib-only: curation workers and veRL reward workers import it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_DIGESTS: dict[tuple[str, int, int, int, int], str] = {}


def file_digest(path: str | os.PathLike[str]) -> str:
    """blake2b of a file's bytes, streamed, memoised within the process per path, size, inode, mtime and
    ctime (every write changes the ctime, which, unlike the mtime, cannot be set back)."""
    p = Path(path)
    st = p.stat()
    memo = (str(p.resolve()), st.st_size, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
    if memo not in _DIGESTS:
        with open(p, "rb") as fh:
            _DIGESTS[memo] = hashlib.file_digest(fh, lambda: hashlib.blake2b(digest_size=16)).hexdigest()
    return _DIGESTS[memo]
