"""veRL integration: the reward function veRL calls, and the row format the exporter writes.

veRL loads this module inside its reward workers (``reward.custom_reward_function.path=
pkg://acereason.integrations.verl`` or the path of this file, ``...name=compute_score``), so it imports
nothing heavy: no torch, no veRL, only :mod:`acereason.verify` and the schema. The verifiers are the same
code the native trainer uses (``acereason.verify.score``), so a response earns the same reward in both
trainers.

Safe in Ray workers: no ``signal.alarm`` (veRL calls reward functions from executor threads, where
alarms do not work; our verifiers bound time with worker processes), and no module state that breaks
under fork (the math and code worker pools notice a changed pid and start afresh).

Row format written by ``acereason export verl`` (veRL's RL dataset schema, as in rLLM's / veRL's own
parquet files): ``data_source``, ``prompt`` (the chat list from :func:`acereason.rl.prompts.build_messages`),
``ability`` (``math`` | ``code``), ``reward_model: {style: "rule", ground_truth}`` and ``extra_info``:

* math: ``ground_truth`` is the gold answer.
* code: ``ground_truth`` is JSON ``{"tests": "<JSON list of LiveCodeBench tests>", "fn_name": ...}``
  (rLLM's LiveCodeBench form, which our ``verl`` reader and other veRL code rewards read), and
  ``extra_info`` carries ``fn_name``, ``time_limit_s`` and ``memory_mb`` (its ``tests`` column is null in our
  export, so tests are stored once; a foreign file's ``extra_info.tests`` is still read first).
* both: ``extra_info`` carries ``index`` (row number) and ``split`` (as veRL's files do), ``problem_id``,
  ``domain``, ``question`` (the bare statement), ``starter_code`` and ``source``.

A recipe with a custom ``train.reward_fn`` (a batch ``fn(problems, responses) -> list[Verdict]``) is
exported with a generated ``DIR/reward_fn.py`` whose ``compute_score`` calls :func:`custom_compute_score`.
"""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Callable
from typing import Any

from acereason.schema import DEFAULT_MEMORY_MB, DEFAULT_TIME_LIMIT_S, Problem, TestCase, Verdict

__all__ = ["compute_score", "custom_compute_score", "problem_from_row", "problem_from_verl", "score_verl"]

# Verdict reasons that mean "the verifier could not decide" rather than "the answer is wrong".
_VERIFIER_FAILURES = {"timeout", "error", "sandbox_error"}


def _loads(value: Any) -> Any:
    """JSON text -> value; anything else (already decoded, or not JSON) is returned unchanged."""
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return value
    return value


def _tests_from(ground_truth: Any, extra_info: dict[str, Any]) -> tuple[list[TestCase] | None, str | None]:
    """Tests and fn_name for a code row: ``extra_info`` first (our export), then ``ground_truth``
    (rLLM's ``{"tests": "<json>"}``, or a bare JSON list), so foreign LiveCodeBench parquet scores too."""
    fn_name = extra_info.get("fn_name") or None
    raw = _loads(extra_info.get("tests"))
    if raw is None:
        truth = _loads(ground_truth)
        if isinstance(truth, dict):
            raw = _loads(truth.get("tests"))
            fn_name = fn_name or truth.get("fn_name") or None
        elif isinstance(truth, list):
            raw = truth
    if not isinstance(raw, list) or not raw:
        return None, fn_name
    return [TestCase.model_validate(t) for t in raw], fn_name


def _is_code(ground_truth: Any, extra_info: dict[str, Any]) -> bool:
    domain = extra_info.get("domain")
    if domain in ("math", "code"):
        return domain == "code"
    if extra_info.get("tests") is not None:
        return True
    truth = _loads(ground_truth)
    return (isinstance(truth, dict) and "tests" in truth) or (
        isinstance(truth, list) and bool(truth) and isinstance(truth[0], dict) and "testtype" in truth[0])


def problem_from_verl(data_source: str, ground_truth: Any, extra_info: dict[str, Any] | None = None,
                      prompt: str | None = None) -> Problem:
    """The :class:`Problem` a veRL row describes (only the fields verification needs, unless ``prompt``).

    Raises ``ValueError`` (pydantic) when a code row carries no usable tests.
    """
    extra = dict(extra_info or {})
    pid = str(extra.get("problem_id") or extra.get("index", "verl"))
    statement = prompt or extra.get("question") or "(veRL row)"
    source = str(data_source or extra.get("source") or "verl")
    if _is_code(ground_truth, extra):
        tests, fn_name = _tests_from(ground_truth, extra)
        return Problem(id=pid, domain="code", prompt=statement, source=source, tests=tests, fn_name=fn_name,
                       starter_code=extra.get("starter_code") or None,
                       time_limit_s=float(extra.get("time_limit_s") or DEFAULT_TIME_LIMIT_S),
                       memory_mb=int(extra.get("memory_mb") or DEFAULT_MEMORY_MB))
    answer = str(ground_truth) if ground_truth is not None else ""
    return Problem(id=pid, domain="math", prompt=statement, source=source, answer=answer if answer.strip() else None)


def problem_from_row(row: dict[str, Any]) -> Problem:
    """A full :class:`Problem` back from a row written by ``acereason export verl`` (used between stages)."""
    extra = dict(row.get("extra_info") or {})
    p = problem_from_verl(row.get("data_source") or "", (row.get("reward_model") or {}).get("ground_truth"), extra,
                          prompt=extra.get("question"))
    meta = _loads(extra.get("meta"))
    difficulty = extra.get("difficulty")
    return p.model_copy(update={"id": str(extra.get("problem_id") or p.id),
                                "source": str(extra.get("source") or p.source),
                                "meta": meta if isinstance(meta, dict) else {},
                                "difficulty": None if difficulty is None or difficulty != difficulty else difficulty})


def score_verl(data_source: str, solution_str: str, ground_truth: Any,
               extra_info: dict[str, Any] | None = None) -> Verdict:
    """The verifier's :class:`Verdict` for one veRL sample (``acereason.verify.score`` on the row's problem)."""
    from acereason.verify import score

    try:
        problem = problem_from_verl(data_source, ground_truth, extra_info)
    except ValueError as err:  # a row we cannot verify scores 0 with a reason, as the native trainer would
        return Verdict(correct=False, reason="bad_row", detail=str(err)[:300])
    return score(problem, solution_str)


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: dict[str, Any] | None = None,
                  **kwargs: Any) -> dict[str, float]:
    """veRL's custom reward function: ``{"score": 1.0 | 0.0, ...}``, the score being exactly
    ``acereason.verify.reward(problem, solution_str)`` for the row's problem.

    veRL's reward managers (naive, dapo, prime, batch; 0.4 through 0.9) accept a dict with ``"score"``
    and put the other keys in ``reward_extra_info`` (rollout dumps, metrics, and DAPO's
    ``filter_groups.metric=acc``), so the extras are numbers with the same keys for every sample:
    ``acc`` (the score), ``verifier_failed`` (1.0 when a verifier timed out or errored: a 0 that is not
    the model's fault), ``code_tests_frac`` (fraction of tests passed; 0 for math). Extra keyword
    arguments veRL may pass (``reward_router_address``...) are ignored.
    """
    return reward_dict(score_verl(data_source, solution_str, ground_truth, extra_info))


def reward_dict(verdict: Verdict) -> dict[str, float]:
    """A :class:`Verdict` as the dict :func:`compute_score` returns to veRL."""
    value = 1.0 if verdict.correct else 0.0
    frac = (verdict.tests_passed or 0) / verdict.tests_total if verdict.tests_total else 0.0
    return {"score": value, "acc": value, "verifier_failed": float(verdict.reason in _VERIFIER_FAILURES),
            "code_tests_frac": float(frac)}


@functools.cache
def _batch_reward(spec: str) -> Callable[..., Any]:
    """The function ``module:attribute`` names (imported once per worker process)."""
    module, _, attr = spec.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def custom_compute_score(reward_fn: str, data_source: str, solution_str: str, ground_truth: Any,
                         extra_info: dict[str, Any] | None = None) -> dict[str, float]:
    """veRL's reward for a recipe's custom ``train.reward_fn``: the batch function ``module:function``
    (``fn(problems, responses) -> list[Verdict]``, as the native trainer calls it) on this one sample.

    The problem is rebuilt in full from the row (:func:`problem_from_row`: statement, answer or tests,
    ``meta``, ``difficulty``); a row that cannot be rebuilt scores 0 with reason ``bad_row``. Returns
    the same dict as :func:`compute_score`. A function that does not return one :class:`Verdict` for
    the one response raises ``TypeError`` (a bug in the function, reported rather than scored 0).
    """
    row = {"data_source": data_source, "reward_model": {"ground_truth": ground_truth}, "extra_info": extra_info}
    try:
        problem = problem_from_row(row)
    except ValueError as err:
        return reward_dict(Verdict(correct=False, reason="bad_row", detail=str(err)[:300]))
    verdicts = list(_batch_reward(reward_fn)([problem], [solution_str]))
    if len(verdicts) != 1 or not isinstance(verdicts[0], Verdict):
        raise TypeError(f"reward_fn {reward_fn!r} must return a list of one Verdict per response, "
                        f"got {verdicts!r:.200}")
    return reward_dict(verdicts[0])
