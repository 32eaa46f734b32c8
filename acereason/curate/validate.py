"""Model-based validation: sample N responses per problem from a validator model, keep what it can solve.

Paper §3.2: DeepSeek-R1 answers each problem 8 times. Math: keep a problem when the majority-voted answer
(answers grouped by verifier equivalence, so ``1/2`` and ``0.5`` vote together) verifies against the gold
answer. Code: run the tests on each response. Difficulty is the pass rate (``difficulty``), for code also
a 0-8 score ``meta.difficulty_score`` = failures per 8 attempts (the trainer's ``difficulty_max`` reads it);
never-solved problems are dropped. Reference response lengths (tokens) are stored in
``meta.response_tokens`` for length balancing (:class:`LengthBalance`: drop < 2K tokens, downsample 2K-4K).

Every response is cached on disk before it is used, keyed by (model, prompt, sampling parameters, sample
index): a crash, ``kill -9`` or rerun never asks the model again for a sample it already answered. The model
is the validator spec, for a local model (``hf:PATH``) with a fingerprint of its directory, so new weights
at the same path are asked afresh (:func:`~acereason.curate.fingerprint.validator_identity`). The
cache is append-only JSONL, one file per process; a torn last line (killed mid-write) is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from acereason.curate.pipeline import Drop, Filter, PipelineContext, batches
from acereason.generate.base import Completion, Generator, Prompt, SamplingParams
from acereason.schema import Problem

MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
BATCH = 64
"""Problems per validation batch: their samples are verified together (progress is reported per batch)."""
CODE_INSTRUCTION = ("Solve the problem in Python. Put your final solution in one ```python code block; read from "
                    "standard input and write to standard output unless a function signature is given.")


def cache_key(model: str, prompt: Prompt, params: SamplingParams, sample_index: int) -> str:
    """The cache key of one sample: sha256 over model, prompt, every sampling parameter and the index."""
    blob = json.dumps({"model": model, "prompt": prompt, "params": asdict(params), "i": sample_index},
                      sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseCache:
    """Append-only disk cache of model responses (see the module docstring)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._mem: dict[str, dict[str, Any]] = {}
        for f in sorted(self.dir.glob("responses-*.jsonl")):
            with open(f, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:  # a torn final line from a killed writer
                        continue
                    self._mem[rec["key"]] = rec
        self._fh = None

    def get(self, key: str) -> dict[str, Any] | None:
        """The cached sample (``text``, ``n_tokens``, ``finish_reason``) or None."""
        return self._mem.get(key)

    def put(self, key: str, completion: Completion) -> None:
        """Store one sample durably (flushed and fsynced before returning)."""
        rec = {"key": key, "text": completion.text, "n_tokens": len(completion.token_ids) or None,
               "finish_reason": completion.finish_reason}
        if self._fh is None:
            self._fh = open(self.dir / f"responses-{os.getpid()}.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        self._fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._mem[key] = rec

    def __len__(self) -> int:
        return len(self._mem)


def validator_prompt(problem: Problem, chat: bool = True) -> Prompt:
    """The prompt the validator sees: statement + the paper's instruction, as one user message."""
    if problem.domain == "math":
        text = f"{problem.prompt}\n\n{MATH_INSTRUCTION}"
    else:
        starter = f"\n\n```python\n{problem.starter_code}\n```" if problem.starter_code else ""
        text = f"{problem.prompt}{starter}\n\n{CODE_INSTRUCTION}"
    return [{"role": "user", "content": text}] if chat else text


def sample_cached(generator: Generator, model: str, cache: ResponseCache, prompts: Sequence[Prompt], n: int,
                  params: SamplingParams, chunk: int = 8) -> list[list[dict[str, Any]]]:
    """``n`` samples per prompt, from the cache where present, else from ``generator``.

    Prompts missing any sample are asked in chunks of ``chunk`` prompts, and each chunk's samples are
    written to the cache as soon as the chunk returns, so an interruption loses at most one chunk.
    A prompt with some samples cached asks only for the missing count.
    """
    keys = [[cache_key(model, p, params, i) for i in range(n)] for p in prompts]
    todo = [j for j, ks in enumerate(keys) if any(cache.get(k) is None for k in ks)]
    for start in range(0, len(todo), chunk):
        part = todo[start: start + chunk]
        by_missing: dict[tuple[int, int], list[int]] = {}
        for j in part:
            free = [i for i, k in enumerate(keys[j]) if cache.get(k) is None]
            by_missing.setdefault((len(free), free[0]), []).append(j)
        for (missing, first), js in by_missing.items():
            # Asking again for samples first..n-1 (e.g. after raising --samples) must not replay the seed
            # that produced samples 0..first-1, or a seeded server would return the same texts.
            ask = params if params.seed is None or first == 0 else replace(params, seed=params.seed + 7919 * first)
            outs = generator.generate([prompts[j] for j in js], missing, ask)
            for j, completions in zip(js, outs, strict=True):
                free = [k for k in keys[j] if cache.get(k) is None]
                for k, c in zip(free, completions, strict=True):
                    cache.put(k, c)
    return [[cache.get(k) or {} for k in ks] for ks in keys]


def majority_answer(extracted: Sequence[str | None]) -> tuple[str | None, int]:
    """The majority answer and its vote count, grouping answers the math verifier calls equal.

    Each answer joins the first group whose representative it verifies against; ties go to the group
    formed first. None (no answer) never votes.
    """
    from acereason.verify.math import verify_answer

    groups: list[list[str]] = []
    for a in extracted:
        if a is None:
            continue
        for g in groups:
            if a == g[0] or verify_answer(a, g[0]).correct:
                g.append(a)
                break
        else:
            groups.append([a])
    if not groups:
        return None, 0
    best = max(groups, key=len)  # max keeps the first of equal lengths
    return best[0], len(best)


def difficulty_score(pass_rate: float, scale: int = 8) -> int:
    """The 0-8 code difficulty: expected failures out of 8 attempts (0 = always solved, 8 = never)."""
    return round(scale * (1.0 - pass_rate))


@dataclass
class ValidatorConfig:
    """How to validate: the generator spec, sample count and sampling parameters."""

    spec: str
    """``hf:PATH`` or ``openai:URL#MODEL`` (e.g. a ``vllm serve`` of DeepSeek-R1)."""
    samples: int = 8
    """Responses per problem (paper: 8)."""
    temperature: float = 0.6
    top_p: float = 0.95
    max_tokens: int = 32768
    seed: int | None = 0
    chat: bool = True
    chunk: int = 8
    """Prompts per generate call; each call's samples are cached when it returns."""


class ModelValidation:
    """Pipeline step: sample, verify, set ``difficulty`` (pass rate), drop unverifiable or never-solved."""

    name = "validate"

    def __init__(self, config: ValidatorConfig, cache_dir: str | os.PathLike[str],
                 generator: Generator | None = None, batch_size: int = BATCH) -> None:
        from acereason.curate.fingerprint import validator_identity

        self.config = config
        # the model in cache keys: the spec, plus the directory's fingerprint for a local model
        self.model_id = validator_identity(config.spec)
        self.cache = ResponseCache(cache_dir)
        self._generator = generator
        self.batch_size = batch_size
        self.params = SamplingParams(temperature=config.temperature, top_p=config.top_p,
                                     max_tokens=config.max_tokens, seed=config.seed)

    @property
    def generator(self) -> Generator:
        if self._generator is None:  # built on first need, so a fully cached rerun never loads the model
            from acereason.generate import make_generator

            self._generator = make_generator(self.config.spec)
        return self._generator

    def __call__(self, records: Iterator[Problem], ctx: PipelineContext) -> Iterator[Problem]:
        for batch in batches(records, self.batch_size):
            yield from self._flush(batch, ctx)

    def _flush(self, batch: list[Problem], ctx: PipelineContext) -> Iterator[Problem]:
        if not batch:
            return
        from acereason.verify import score_batch

        prompts = [validator_prompt(p, self.config.chat) for p in batch]
        samples = _LazyGen(self).sample(prompts)
        flat_p = [p for p, ss in zip(batch, samples, strict=True) for _ in ss]
        flat_r = [s.get("text", "") for ss in samples for s in ss]
        verdicts = score_batch(flat_p, flat_r)
        n = self.config.samples
        for j, p in enumerate(batch):
            vs = verdicts[j * n: (j + 1) * n]
            rate = sum(v.correct for v in vs) / n
            lengths = [s.get("n_tokens") or len(s.get("text", "")) // 4 for s in samples[j]]
            p.meta["response_tokens"] = sorted(lengths)[len(lengths) // 2]
            p.meta["validator"] = {"model": self.config.spec, "samples": n, "passed": sum(v.correct for v in vs)}
            if p.domain == "math":
                voted, votes = majority_answer([v.extracted for v in vs])
                p.meta["validator"]["majority"] = voted
                p.meta["validator"]["majority_votes"] = votes
                if voted is None or not any(v.correct and v.extracted == voted for v in vs):
                    ctx.drop(p, self.name, Drop("majority_wrong", f"majority answer {voted!r} ({votes}/{n}) "
                                                                  f"does not verify against {p.answer!r}"))
                    continue
            if rate == 0:
                ctx.drop(p, self.name, Drop("never_solved", f"0/{n} samples pass"))
                continue
            p.difficulty = rate
            if p.domain == "code":
                p.meta["difficulty_score"] = difficulty_score(rate)
            yield p


class _LazyGen:
    """Adapter so the generator is only built when some sample is missing from the cache."""

    def __init__(self, step: ModelValidation) -> None:
        self.step = step

    def generate(self, prompts: Sequence[Prompt], n: int, params: SamplingParams) -> list[list[Completion]]:
        return self.step.generator.generate(prompts, n, params)

    def sample(self, prompts: Sequence[Prompt]) -> list[list[dict[str, Any]]]:
        s = self.step
        return sample_cached(self, s.model_id, s.cache, prompts, s.config.samples, s.params, s.config.chunk)


class LengthBalance(Filter):
    """Paper's length balancing on the validator's median response length (``meta.response_tokens``):
    drop problems below ``min_tokens`` (easy problems teach short reasoning) and keep a deterministic
    ``downsample_keep`` fraction of those below ``downsample_below``. Problems without a length pass."""

    name = "length_balance"

    def __init__(self, min_tokens: int = 2000, downsample_below: int = 4000, downsample_keep: float = 0.5) -> None:
        self.min_tokens = min_tokens
        self.downsample_below = downsample_below
        self.downsample_keep = downsample_keep

    def decide(self, problem: Problem) -> Drop | None:
        n = problem.meta.get("response_tokens")
        if not isinstance(n, int | float):
            return None
        if n < self.min_tokens:
            return Drop("short_reference", f"median response {n} < {self.min_tokens} tokens")
        if n < self.downsample_below:
            u = int.from_bytes(hashlib.blake2b(problem.id.encode(), digest_size=8).digest(), "little") / 2**64
            if u >= self.downsample_keep:
                return Drop("downsampled_2k_4k", f"median response {n} tokens, kept {self.downsample_keep:.0%}")
        return None
