"""What an eval output directory's samples were made from, so a rerun never credits one model with another's.

``OUT/fingerprint.json`` binds the directory to: the model (a content hash of the weight files and of the
config/tokenizer files, or for the openai backend the server URL and model name), the sampling settings
(temperature, top-p, max tokens, seed), the prompt (math and code instructions, system prompt) and, per
benchmark, a hash of its problems. A rerun must match all of these, except that it may ask for more
samples (a larger k), add benchmarks, or change ``--limit``; anything else is refused with one line naming
what differs, so old samples are never mixed with new ones (``--fresh`` discards them on purpose).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from acereason.atomic import write_json
from acereason.digest import file_digest
from acereason.schema import DataError, Problem

VERSION = 1
FILE = "fingerprint.json"
OUTPUTS = ("samples.jsonl", "results.json", FILE)
"""What ``--fresh`` removes: the files an evaluation writes, nothing else in the directory."""

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
TRAINING_STATE = ("training_args", "optimizer", "scheduler", "rng_state", "scaler", "trainer_state")
"""Checkpoint files beside the weights that do not change what the model generates."""
CONFIG_PREFIXES = ("config.json", "generation_config.json", "tokenizer", "special_tokens_map", "added_tokens",
                   "vocab", "merges", "chat_template")
"""Files that change what the model is asked (chat template, tokenizer) or when it stops (eos ids)."""
SAMPLING_KEYS = ("temperature", "top_p", "max_tokens", "seed")
PROMPT_KEYS = ("math_instruction", "code_instruction", "system_prompt")


def _hash_files(files: Sequence[Path], root: Path) -> str:
    """sha256 over each file's name, size and content digest (streamed: weights do not fit in memory)."""
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.relative_to(root).as_posix()}\0{f.stat().st_size}\0{file_digest(f)}\0".encode())
    return h.hexdigest()


def _weight_files(model_dir: Path) -> list[Path]:
    files = sorted(p for p in model_dir.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES
                   and not p.name.startswith(TRAINING_STATE))
    safetensors = [p for p in files if p.suffix == ".safetensors"]
    return safetensors or files  # transformers loads safetensors first when both are present


def model_dir_identity(model_dir: str | Path) -> dict[str, str]:
    """Content hashes of a Hugging Face model directory: ``weights`` and ``config`` (config + tokenizer)."""
    root = Path(model_dir)
    weights = _weight_files(root)
    if not weights:
        raise DataError(root, None, f"no weight files ({', '.join('*' + s for s in WEIGHT_SUFFIXES)}) in this "
                        "model directory")
    size = sum(p.stat().st_size for p in weights)
    if size > 2 << 30:  # a few seconds per GB: say why the command is quiet
        print(f"hashing {size / 2**30:.1f} GiB of weights in {root} (binds the eval output to this model)",
              file=sys.stderr, flush=True)
    config = sorted(p for p in root.iterdir() if p.is_file() and p.name.startswith(CONFIG_PREFIXES))
    return {"weights": _hash_files(weights, root), "config": _hash_files(config, root)}


def server_identity(base_url: str, model: str) -> dict[str, str]:
    """An OpenAI-compatible server's model: its API root (as the openai backend normalises it) and name."""
    url = base_url.rstrip("/")
    return {"server": url if url.endswith("/v1") else url + "/v1", "name": model}


def model_identity(backend: str, model: str, base_url: str | None = None) -> dict[str, str]:
    """The fingerprint's model component for ``acereason eval --backend BACKEND --model MODEL``."""
    if backend == "openai":
        return server_identity(base_url or "", model)
    if Path(model).is_dir():
        return model_dir_identity(model)
    return {"name": model}  # a vllm model name that is not a local directory


def problems_hash(problems: Sequence[Problem]) -> str:
    """sha256 of the problems as loaded (statements, answers, tests, metadata: everything prompts and verdicts
    depend on). Default-valued fields are left out, so a new optional schema field does not change it."""
    h = hashlib.sha256()
    for p in problems:
        h.update(json.dumps(p.model_dump(mode="json", exclude_defaults=True), sort_keys=True).encode())
        h.update(b"\n")
    return h.hexdigest()


def build(model: dict[str, str] | None, settings: Any, suites: Sequence[tuple[Any, Sequence[Problem]]] = ()
          ) -> dict[str, Any]:
    """The fingerprint of an evaluation: ``model`` (see :func:`model_identity`; None when unknown), the sampling
    and prompt fields of ``settings`` (an ``EvalSettings``), and a hash of each suite's full problem list."""
    return {"version": VERSION, "model": model,
            # typed, so that temperature=1 and temperature=1.0 are one fingerprint
            "sampling": {"temperature": float(settings.temperature), "top_p": float(settings.top_p),
                         "max_tokens": int(settings.max_tokens), "seed": int(settings.seed)},
            "prompt": {k: getattr(settings, k) for k in PROMPT_KEYS},
            "benchmarks": {spec.name: {"problems": len(ps), "sha256": problems_hash(ps)} for spec, ps in suites}}


def short_hash(fp: dict[str, Any]) -> str:
    """8 hex digits over what every benchmark's samples depend on (model, sampling, prompt): the default
    output directory's suffix, so two models or two settings never share a directory by default."""
    core = {k: fp[k] for k in ("model", "sampling", "prompt")}
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()[:8]


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 24 else ""


def _model_name(m: Any) -> str:
    if not isinstance(m, dict):
        return "unknown"
    if "server" in m:
        return f"'{m['name']}' at {m['server']}"
    return "a local model directory" if "weights" in m else repr(m.get("name"))


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between an existing fingerprint and a new one, as short phrases (empty: compatible).
    Benchmarks only in one of them are not differences: adding one to a directory is fine."""
    out = []
    old_model, new_model = old.get("model"), new.get("model")
    if old_model != new_model:
        if isinstance(old_model, dict) and isinstance(new_model, dict) and old_model.keys() == new_model.keys() \
                == {"weights", "config"}:
            parts = [k if k == "weights" else "config/tokenizer" for k in ("weights", "config")
                     if old_model[k] != new_model[k]]
            out.append(f"model ({', '.join(parts)})")
        else:
            out.append(f"model ({_model_name(old_model)} -> {_model_name(new_model)})")
    for group, keys in (("sampling", SAMPLING_KEYS), ("prompt", PROMPT_KEYS)):
        for key in keys:
            a, b = old.get(group, {}).get(key), new[group][key]
            if a != b:
                shown = f" ({_show(a)} -> {_show(b)})" if _show(a) and _show(b) else ""
                out.append(f"{key.replace('_', '-' if group == 'sampling' else ' ')}{shown}")
    for bench, info in new["benchmarks"].items():
        was = old.get("benchmarks", {}).get(bench)
        if was is not None and was.get("sha256") != info["sha256"]:
            out.append(f"benchmark {bench} contents ({was.get('problems')} -> {info['problems']} problems)"
                       if was.get("problems") != info["problems"] else f"benchmark {bench} contents")
    return out


def _has_samples(out: Path) -> bool:
    samples = out / "samples.jsonl"
    return samples.exists() and samples.stat().st_size > 0


def check(out_dir: str | Path, fp: dict[str, Any], fresh: bool = False) -> None:
    """Raise :class:`DataError` (one line naming what differs) unless ``out_dir`` may take samples made under
    ``fp``: it has no samples, or a matching ``fingerprint.json``, or ``fresh`` discards them. Reads only."""
    out = Path(out_dir)
    if fresh or not _has_samples(out):
        return
    path = out / FILE
    hint = "use another --out or --fresh to discard them"
    if not path.exists():
        raise DataError(out, None, f"existing samples.jsonl has no {FILE}, so what made it is unknown; {hint}")
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(path, None, f"unreadable ({err}); {hint}") from None
    if old.get("version") != VERSION:
        raise DataError(path, None, f"fingerprint version {old.get('version')!r}, expected {VERSION}; {hint}")
    diff = differences(old, fp)
    if diff:
        raise DataError(out, None, f"existing samples were made with a different {', '.join(diff)}; {hint}")


def bind(out_dir: str | Path, fp: dict[str, Any], fresh: bool = False, info: dict[str, Any] | None = None) -> None:
    """:func:`check`, then (with ``fresh``) remove the old outputs and write ``fingerprint.json``: the
    benchmarks of the old and new fingerprints together, plus ``info`` about this run (k, limit)."""
    out = Path(out_dir)
    check(out, fp, fresh)
    path = out / FILE
    # the old benchmarks are kept only when they describe samples that stay (check passed on them)
    old = json.loads(path.read_text(encoding="utf-8")) if not fresh and _has_samples(out) else {}
    if fresh:
        for name in OUTPUTS:
            (out / name).unlink(missing_ok=True)
    merged = {**fp, "benchmarks": {**old.get("benchmarks", {}), **fp["benchmarks"]}}
    write_json(path, {**merged, "last_run": info or {}})
