"""The ``acereason`` batch reward manager, driven through veRL 0.9.1's own ``RewardLoopWorker`` and ``DataProto``.

Runs in veRL's venv (``scripts/verl_check.sh`` runs it with ``.venv-verl/bin/python -m pytest -m slow``); in
the main venv, without veRL, it skips. CPU only: the reward path needs no GPU.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

pytest.importorskip("verl")
pytest.importorskip("hydra")

from acereason.integrations.verl_batch import VERDICT_KEYS, Row, score_rows, verdict_class
from acereason.integrations.verl_export import problem_row
from acereason.rl.recipe import CODE_INSTRUCTION, MATH_INSTRUCTION
from acereason.schema import Problem, TestCase

pytestmark = pytest.mark.slow

MARK = "987654"  # argument of the sleeps adversarial programs try to leave behind


def _code(body: str) -> str:
    return f"<think>ok</think>\n```python\n{body}\n```"


SUM = Problem(id="sum", domain="code", prompt="Print a+b.", source="hand", time_limit_s=2.0, memory_mb=256,
              tests=[TestCase(testtype="stdin", input="1 2\n", output="3\n"),
                     TestCase(testtype="stdin", input="5 7\n", output="12\n")])
ADD = Problem(id="add", domain="code", prompt="Write add(a, b).", source="hand", fn_name="add",
              time_limit_s=2.0, memory_mb=256,
              tests=[TestCase(testtype="functional", input="2\n3", output="5")])
TWO = Problem(id="two", domain="math", prompt="1+1?", source="hand", answer="2")

CASES: list[tuple[Problem, str, str]] = [  # (problem, response, expected verdict class)
    (SUM, _code("a, b = map(int, input().split())\nprint(a + b)"), "accepted"),
    (SUM, _code("a, b = map(int, input().split())\nprint(a * b)"), "wrong"),
    (SUM, _code("while True:\n    pass"), "time_limit"),
    (SUM, _code("raise ValueError('boom')"), "runtime_error"),
    (SUM, _code("print(3)\nraise SystemExit(1)"), "runtime_error"),
    (SUM, "I would print the sum.", "no_code"),
    (ADD, _code("class Solution:\n    def add(self, a, b):\n        return a + b"), "accepted"),
    (ADD, _code("def add(a, b):\n    return a - b"), "wrong"),
    # adversarial: leave processes behind, then pass / fail
    (SUM, _code(f"import subprocess\nsubprocess.Popen(['sleep', '{MARK}'], start_new_session=True)\n"
                "a, b = map(int, input().split())\nprint(a + b)"), "any"),
    (SUM, _code(f"import os\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                f"        os.execvp('sleep', ['sleep', '{MARK}'])\n    os._exit(0)\n"
                "a, b = map(int, input().split())\nprint(a + b)"), "any"),
    (SUM, _code("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"), "any"),
    (SUM, _code("import sys\nsys.stdout.write('3\\n12\\n')\nsys.exit(0)"), "any"),
    (TWO, "<think>1+1</think>The answer is $\\boxed{2}$.", "accepted"),
    (TWO, "<think>1+1</think>The answer is $\\boxed{3}$.", "wrong"),
    (TWO, "<think>never ends", "no_code"),
]


def _rows(problems: list[Problem]) -> list[dict]:
    return [problem_row(p, i, math_instruction=MATH_INSTRUCTION, code_instruction=CODE_INSTRUCTION)
            for i, p in enumerate(problems)]


def _survivors() -> list[int]:
    """Processes anywhere on the machine running ``sleep MARK`` (double forks reparent to init)."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if MARK.encode() in cmd and cmd[0].endswith(b"sleep"):
            out.append(int(pid))
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    from acereason.models.tiny import build_char_tokenizer, build_tiny_model, save_tiny

    tok = build_char_tokenizer()
    return save_tiny(build_tiny_model(tok), tok, tmp_path_factory.mktemp("tiny") / "hf"), tok


def _config(model: Path, *extra: str):
    import verl
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(Path(verl.__file__).parent / "trainer" / "config"), version_base=None):
        return compose(config_name="ppo_trainer", overrides=[
            f"actor_rollout_ref.model.path={model}", "data.max_response_length=600",
            "reward.reward_manager.source=importlib", "reward.reward_manager.name=AceReasonRewardManager",
            "reward.reward_manager.module.path=pkg://acereason.integrations.verl_reward_manager",
            "+acereason.reward.timeout_s=20", *extra])


def _worker(model: Path, *extra: str):
    """veRL's own reward worker (the class its RewardLoopManager runs as a Ray actor), built from the config."""
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

    return RewardLoopWorker(_config(model, *extra))


def test_batch_verdicts_breakdown_and_no_leaks(tiny: tuple[Path, object]) -> None:
    from acereason.integrations.verl_data import dataproto_batch
    from acereason.integrations.verl_reward_manager import AceReasonRewardManager

    model, tok = tiny
    problems = [c[0] for c in CASES]
    responses = [c[1] for c in CASES]
    rows = _rows(problems)
    worker = _worker(model)
    assert isinstance(worker.reward_manager, AceReasonRewardManager)
    data = dataproto_batch(tok, rows, responses, max_response_length=600)
    out = asyncio.run(worker.compute_score_batch(data))  # one run_single per sample, all at once, as veRL does
    assert len(out) == len(CASES)
    # the whole batch was judged as one batch
    assert [b["n"] for b in worker.reward_manager.batches] == [len(CASES)]
    # the same verdicts as our verifiers on the decoded rows
    want = score_rows([Row(r["data_source"], resp, r["reward_model"]["ground_truth"], r["extra_info"])
                       for r, resp in zip(rows, responses, strict=True)], timeout_s=20)
    for (p, _, expect), o, w in zip(CASES, out, want, strict=True):
        info = o["reward_extra_info"]
        assert o["reward_score"] == info["score"] == info["acc"] == (1.0 if w.correct else 0.0)
        got = [k for k in VERDICT_KEYS if info[f"verdict/{k}"] == 1.0]
        assert got == [verdict_class(w)], (p.id, info, w)
        if expect != "any":
            assert got == [expect], (p.id, w)
        assert info["overlong"] == 0.0
    # a program that raises never earns reward; nothing an adversarial program started outlives its verdict
    assert all(o["reward_score"] == 0.0 for (_, r, e), o in zip(CASES, out, strict=True) if e == "runtime_error")
    assert _survivors() == []


def test_same_keys_for_every_sample_into_veRL_batch(tiny: tuple[Path, object]) -> None:
    """veRL's RewardLoopManager stacks reward_extra_info by the first sample's keys: they must all match."""
    from acereason.integrations.verl_data import dataproto_batch

    model, tok = tiny
    rows = _rows([SUM, TWO, ADD])
    data = dataproto_batch(tok, rows, ["no code", "\\boxed{2}", _code("def add(a, b):\n    return a + b")],
                           max_response_length=600)
    out = asyncio.run(_worker(model).compute_score_batch(data))
    keys = [set(o["reward_extra_info"]) for o in out]
    assert keys[0] == keys[1] == keys[2] >= {"acc", "score", "overlong", *(f"verdict/{k}" for k in VERDICT_KEYS)}


def test_truncated_response_is_overlong(tiny: tuple[Path, object]) -> None:
    from acereason.integrations.verl_data import dataproto_batch

    model, tok = tiny
    rows = _rows([TWO, TWO])
    long = "<think>" + "x" * 700
    data = dataproto_batch(tok, rows, [long, "<think>1+1</think>\\boxed{2}"], max_response_length=600)
    out = asyncio.run(_worker(model).compute_score_batch(data))
    assert [o["reward_extra_info"]["overlong"] for o in out] == [1.0, 0.0]
    assert [o["reward_score"] for o in out] == [0.0, 1.0]


def test_per_verification_timeout(tiny: tuple[Path, object]) -> None:
    """A program that sleeps (no CPU time) is cut at the per-verification bound: verdict timeout, reward 0."""
    from acereason.integrations.verl_data import dataproto_batch

    model, tok = tiny
    rows = _rows([SUM, SUM])
    data = dataproto_batch(tok, rows, [_code("import time\ntime.sleep(4)\nprint(3)"),
                                       _code("a, b = map(int, input().split())\nprint(a + b)")],
                           max_response_length=600)
    out = asyncio.run(_worker(model, "++acereason.reward.timeout_s=1").compute_score_batch(data))
    assert out[0]["reward_extra_info"]["verdict/timeout"] == 1.0 and out[0]["reward_score"] == 0.0
    assert out[1]["reward_extra_info"]["verdict/accepted"] == 1.0


def test_a_hanging_verifier_cannot_hang_the_run(tiny: tuple[Path, object], monkeypatch: pytest.MonkeyPatch) -> None:
    """Even if the verifier itself never returns, the batch resolves at its deadline with timeout verdicts."""
    from acereason.integrations import verl_reward_manager as m
    from acereason.integrations.verl_data import dataproto_batch

    model, tok = tiny
    release = threading.Event()
    monkeypatch.setattr(m, "score_rows", lambda rows, *a, **k: release.wait(60) and [])
    monkeypatch.setattr(m, "batch_deadline", lambda *a, **k: 0.2)
    monkeypatch.setattr(m, "_BACKSTOP_S", 0.1)
    data = dataproto_batch(tok, _rows([SUM, TWO]), ["x", "y"], max_response_length=600)
    try:
        out = asyncio.run(_worker(model).compute_score_batch(data))
    finally:
        release.set()
    assert [o["reward_extra_info"]["verdict/timeout"] for o in out] == [1.0, 1.0]
    assert [o["reward_score"] for o in out] == [0.0, 0.0]
