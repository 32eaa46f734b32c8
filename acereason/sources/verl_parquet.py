"""veRL RL-dataset Parquet reader: ``data_source, prompt (chat list), ability, reward_model{style,
ground_truth}, extra_info``.

The prompt we keep is the bare statement: the user turn's text with a baked-in chat template and the
known instruction suffixes/prefixes removed (the removed instruction goes to ``meta.instruction``); when
``extra_info.question`` holds the bare statement it is used directly. Code rows keep their tests as a JSON
string ``{"tests": "<json list>"}`` in ``ground_truth`` (rLLM's LiveCodeBench export).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from acereason.schema import DataError
from acereason.sources.code_common import fn_name_from_starter, parse_json_field
from acereason.sources.common import answer_text, iter_rows, make_problem, need, repair_escapes
from acereason.sources.lcb import lcb_tests
from acereason.sources.naming import file_tag
from acereason.sources.registry import register_reader

_MATH_SUFFIXES = (
    r"\s*Let's think step by step and output the final answer within \\boxed\{\}\.?\s*$",
    r"\s*Please reason step by step, and put your final answer within \\boxed\{\{?\}?\}\.?\s*$",
)
_CODE_PREFIX = re.compile(r"^You are an expert Python programmer\. You will be given a question \(problem "
                          r"specification\) and will generate a correct Python program that matches the "
                          r"specification and passes all tests\.\s*")
_CHAT_USER = re.compile(r"<\|im_start\|>user\n(?P<user>.*?)<\|im_end\|>", re.DOTALL)


def _user_text(prompt: Any, path: Path, loc: int) -> str:
    if isinstance(prompt, str):
        return prompt
    if not isinstance(prompt, list) or not prompt:
        raise DataError(path, loc, "expected a non-empty chat list [{role, content}]", field="prompt")
    users = [m.get("content", "") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        raise DataError(path, loc, "no user message", field="prompt")
    return users[-1]


def _strip_math(text: str) -> tuple[str, str | None]:
    m = _CHAT_USER.search(text)
    if m:
        text = m.group("user")
    for pat in _MATH_SUFFIXES:
        found = re.search(pat, text)
        if found:
            return text[: found.start()].strip(), found.group(0).strip()
    return text.strip(), None


def _strip_code(text: str) -> tuple[str, str | None, str | None]:
    """(statement, starter_code, instruction) from an LCB-style code prompt."""
    instruction = None
    m = _CODE_PREFIX.match(text)
    if m:
        instruction = m.group(0).strip()
        text = text[m.end():]
    starter = None
    fmt = text.find("### Format:")
    if fmt >= 0:
        tail = text[fmt:]
        blocks = re.findall(r"```python\n(.*?)```", tail, re.DOTALL)
        real = [b for b in blocks if b.strip() and b.strip() != "# YOUR CODE HERE"]
        starter = real[0] if real else None
        text = text[:fmt]
    return text.strip(), starter, instruction


def _is_verl(first: Any) -> bool:
    return isinstance(first, dict) and "reward_model" in first and "prompt" in first


@register_reader("verl", "veRL RL parquet: data_source, prompt [{role, content}], ability, "
                 "reward_model {style, ground_truth}, extra_info",
                 detect=lambda p, first: _is_verl(first), priority=8)
def read_verl(path: Path, tag: str | None = None) -> Iterator[Any]:
    """veRL parquet rows (math: ground truth answer; code: ground truth JSON with tests)."""
    tag = tag or file_tag(path)
    for loc, row in iter_rows(path):
        rm = need(row, "reward_model", path, loc, dict)
        gt = rm.get("ground_truth")
        if gt is None:
            raise DataError(path, loc, "missing", field="reward_model.ground_truth")
        extra = row.get("extra_info") or {}
        ability = str(row.get("ability") or "math")
        text = _user_text(need(row, "prompt", path, loc, (list, str)), path, loc)
        source = row.get("data_source") or tag
        index = extra.get("index", extra.get("id", loc - 1))
        meta: dict[str, Any] = {"data_source": row.get("data_source"), "ability": ability,
                                "extra_info": {k: v for k, v in extra.items() if k != "question"}}
        if ability == "code":
            prompt, starter, instruction = _strip_code(text)
            if isinstance(extra.get("question"), str) and extra["question"].strip():
                # our own export keeps the bare statement and limits in extra_info: use them as written
                prompt, instruction = extra["question"].strip(), None
                starter = extra.get("starter_code") if "starter_code" in extra else starter
            truth = parse_json_field(gt, path, loc, "reward_model.ground_truth")
            raw_tests = truth.get("tests") if isinstance(truth, dict) else truth
            tests = lcb_tests(parse_json_field(raw_tests, path, loc, "reward_model.ground_truth.tests"),
                              path, loc, "reward_model.ground_truth.tests")
            fn_name = (truth.get("fn_name") if isinstance(truth, dict) else None) or fn_name_from_starter(starter)
            if instruction:
                meta["instruction"] = instruction
            limits = {k: extra[k] for k in ("time_limit_s", "memory_mb") if extra.get(k) is not None}
            pid = extra.get("problem_id") or f"{tag}-{index}"
            yield make_problem(path, loc, id=pid, domain="code", prompt=prompt, source=source,
                               tests=tests, fn_name=fn_name, starter_code=starter, meta=meta, **limits)
            continue
        question = extra.get("question")
        if isinstance(question, str) and question.strip():
            prompt, instruction = question.strip(), None
        else:
            prompt, instruction = _strip_math(text)
        if instruction:
            meta["instruction"] = instruction
        yield make_problem(path, loc, id=extra.get("problem_id") or f"{tag}-{index}", domain="math",
                           prompt=repair_escapes(prompt),
                           answer=answer_text(gt, path, loc, "reward_model.ground_truth"), source=source,
                           meta=json.loads(json.dumps(meta, default=str)))
