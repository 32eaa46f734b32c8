"""Content fingerprints: what a stage's completion markers and the validator cache are keyed on.

A resumable result is only valid for the inputs that produced it. Paths and modification times do not
say that (a benchmark file edited in place keeps its path; a copy gets a new mtime and the same bytes),
so every file that affects a stage is identified by a digest of its content: the stage's input files, the
benchmark files, the validator model's directory, and the source of the code that runs the steps.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from acereason.digest import file_digest

# Files at least this large are identified by size and mtime instead of their bytes: hashing a 15 GB
# checkpoint on every run would cost more than the stage it protects. Configs, tokenizers, benchmark
# files and our own shards are far below it.
LARGE_FILE = 256 << 20

def path_fingerprint(path: str | os.PathLike[str], large: int = LARGE_FILE) -> str:
    """A digest of a file, or of every file under a directory (names and contents); files of ``large``
    bytes or more count by size and mtime. A path that does not exist (a built-in alias such as
    ``humaneval``) is identified by its name."""
    p = Path(path)
    if not p.exists():
        return f"missing:{p}"
    files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    h = hashlib.blake2b(digest_size=16)
    for f in files:
        st = f.stat()
        part = f"{st.st_size}:{st.st_mtime_ns}" if st.st_size >= large else file_digest(f)
        h.update(f"{f.relative_to(p) if p.is_dir() else ''}\0{part}\0".encode())
    return h.hexdigest()


def code_fingerprint() -> str:
    """A digest of the package version and the source of the modules whose code decides what a stage keeps
    (curation steps, source readers, verifiers, schema): upgrading or editing them recomputes the stages."""
    import acereason

    root = Path(acereason.__file__).parent
    h = hashlib.blake2b(acereason.__version__.encode(), digest_size=16)
    for sub in ("curate", "sources", "verify"):
        for f in sorted((root / sub).rglob("*.py")):
            h.update(f"{f.relative_to(root)}\0{file_digest(f)}\0".encode())
    h.update(file_digest(root / "schema.py").encode())
    return h.hexdigest()


def validator_identity(spec: str) -> str:
    """What names the validator model in cache keys and stage keys: the spec, and for a local model
    (``hf:PATH``, ``vllm:PATH``) also a fingerprint of its directory, so weights replaced at the same path
    never answer from the old model's cache. An ``openai:URL#MODEL`` server is trusted to serve one model
    under that URL and name."""
    kind, _, rest = spec.partition(":")
    if kind in ("hf", "vllm") and rest and Path(rest).exists():
        return f"{spec}@{path_fingerprint(rest)}"
    return spec
