"""Model validation: response cache (never re-asks a finished sample, even after kill -9), majority vote
by verifier equivalence, pass-rate difficulty, 0-8 code score, never-solved drop, length balancing."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from acereason.curate.pipeline import PipelineContext
from acereason.curate.validate import (
    LengthBalance,
    ModelValidation,
    ResponseCache,
    ValidatorConfig,
    cache_key,
    difficulty_score,
    majority_answer,
    sample_cached,
)
from acereason.generate.base import Completion, Prompt, SamplingParams
from acereason.schema import Problem, TestCase


class Scripted:
    """A generator answering from a table ``prompt substring -> list of responses`` (cycled), counting calls."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.calls: list[tuple[int, int]] = []  # (prompts, n) per call

    def generate(self, prompts: Sequence[Prompt], n: int, params: SamplingParams) -> list[list[Completion]]:
        self.calls.append((len(prompts), n))
        out = []
        for p in prompts:
            text = p if isinstance(p, str) else p[-1]["content"]
            answers = next(v for k, v in self.table.items() if k in text)
            out.append([Completion(answers[i % len(answers)], list(range(100 * (i + 1))), "stop") for i in range(n)])
        return out


def math_problem(pid: str, prompt: str, answer: str) -> Problem:
    return Problem(id=pid, domain="math", prompt=prompt, answer=answer, source="s")


def test_cache_key_depends_on_every_part() -> None:
    p = SamplingParams(temperature=0.6)
    base = cache_key("m", "q", p, 0)
    assert base == cache_key("m", "q", SamplingParams(temperature=0.6), 0)
    assert len({base, cache_key("m2", "q", p, 0), cache_key("m", "q2", p, 0),
                cache_key("m", "q", SamplingParams(temperature=0.7), 0), cache_key("m", "q", p, 1)}) == 5


def test_cache_ignores_a_torn_last_line(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path)
    cache.put("k1", Completion("hello", [1, 2], "stop"))
    with open(next(tmp_path.glob("responses-*.jsonl")), "a") as fh:
        fh.write('{"key": "k2", "text": "half')
    again = ResponseCache(tmp_path)
    assert again.get("k1")["text"] == "hello" and again.get("k2") is None and len(again) == 1


def test_sample_cached_asks_only_for_missing_samples(tmp_path: Path) -> None:
    gen = Scripted({"a": ["x"], "b": ["y"], "c": ["z"]})
    cache = ResponseCache(tmp_path)
    params = SamplingParams(seed=0)
    first = sample_cached(gen, "m", cache, ["a", "b"], 3, params, chunk=1)
    assert gen.calls == [(1, 3), (1, 3)] and [s["text"] for s in first[0]] == ["x"] * 3
    gen.calls.clear()
    second = sample_cached(gen, "m", ResponseCache(tmp_path), ["a", "b", "c"], 3, params)
    assert gen.calls == [(1, 3)] and second[:2] == first  # only "c" was asked for
    gen.calls.clear()
    seeds: list[int | None] = []
    original = gen.generate
    gen.generate = lambda prompts, n, p: (seeds.append(p.seed), original(prompts, n, p))[1]  # type: ignore[method-assign]
    sample_cached(gen, "m", ResponseCache(tmp_path), ["a"], 5, params)  # two more samples of "a"
    assert gen.calls == [(1, 2)] and seeds != [0]  # a fresh seed, or a seeded server repeats samples 0-1


def test_majority_vote_groups_equivalent_answers() -> None:
    assert majority_answer(["1/2", "0.5", "\\frac{1}{2}", "3", "3", None]) == ("1/2", 3)
    assert majority_answer([None, None]) == (None, 0)
    assert majority_answer(["2", "3"]) == ("2", 1)  # a tie goes to the first group


def test_difficulty_score_counts_failures_per_eight() -> None:
    assert [difficulty_score(r) for r in (1.0, 7 / 8, 0.5, 1 / 8, 0.0)] == [0, 1, 4, 7, 8]


def test_math_validation_keeps_majority_verified_and_sets_pass_rate(tmp_path: Path) -> None:
    gen = Scripted({
        "half": ["so \\boxed{0.5}", "\\boxed{1/2}", "\\boxed{7}", "\\boxed{\\frac12}"],  # majority 1/2, 3/4 pass
        "minor": ["\\boxed{5}", "\\boxed{5}", "\\boxed{5}", "\\boxed{9}"],  # solved once, majority wrong
        "never": ["\\boxed{1}"],
    })
    step = ModelValidation(ValidatorConfig(spec="scripted", samples=4), tmp_path, generator=gen)
    ctx = PipelineContext()
    probs = [math_problem("h", "What is half of one?", "\\frac{1}{2}"), math_problem("m", "minor one", "9"),
             math_problem("n", "never one", "2")]
    kept = list(step(iter(probs), ctx))
    assert [p.id for p in kept] == ["h"] and kept[0].difficulty == 0.75
    assert kept[0].meta["validator"]["majority_votes"] == 3 and kept[0].meta["response_tokens"] == 300
    assert ctx.drops == {("s", "validate", "majority_wrong"): 2}
    # A rerun over the same cache makes no model call at all.
    gen.calls.clear()
    again = ModelValidation(ValidatorConfig(spec="scripted", samples=4), tmp_path, generator=gen)
    assert [p.id for p in again(iter(probs), PipelineContext())] == ["h"] and gen.calls == []


def test_code_validation_scores_difficulty_and_drops_never_solved(tmp_path: Path) -> None:
    good, bad = "```python\nprint(int(input()) * 2)\n```", "```python\nprint(0)\n```"
    gen = Scripted({"Double": [good, bad, bad, bad], "Triple": [bad]})
    tests = [TestCase(testtype="stdin", input="3\n", output="6\n")]
    probs = [Problem(id=i, domain="code", prompt=t, source="c", tests=tests)
             for i, t in (("d", "Double the number n."), ("t", "Triple the number n."))]
    ctx = PipelineContext()
    kept = list(ModelValidation(ValidatorConfig(spec="x", samples=8), tmp_path, generator=gen)(iter(probs), ctx))
    assert [p.id for p in kept] == ["d"] and kept[0].difficulty == 0.25 and kept[0].meta["difficulty_score"] == 6
    assert ctx.drops == {("c", "validate", "never_solved"): 1}


def test_length_balance_drops_short_and_downsamples_the_middle() -> None:
    rule = LengthBalance(min_tokens=2000, downsample_below=4000, downsample_keep=0.5)
    mk = lambda i, n: Problem(id=f"p{i}", domain="math", prompt="q", answer="1", source="s",  # noqa: E731
                              meta={"response_tokens": n})
    assert rule.decide(mk(0, 1999)).reason == "short_reference"
    assert rule.decide(mk(0, 4000)) is None and rule.decide(Problem(id="z", domain="math", prompt="q", answer="1",
                                                                    source="s")) is None
    kept = sum(rule.decide(mk(i, 3000)) is None for i in range(1000))
    assert 400 < kept < 600  # a deterministic hash of the id keeps about half
    assert kept == sum(rule.decide(mk(i, 3000)) is None for i in range(1000))


def test_new_weights_at_the_same_path_are_not_answered_from_the_cache(tmp_path: Path) -> None:
    """The cache names a local validator by its directory's content, not only by ``hf:PATH``."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"layers": 2}')
    (model / "model.safetensors").write_bytes(b"weights-1")
    gen = Scripted({"half": ["\\boxed{0.5}"]})
    probs = [math_problem("h", "What is half of one?", "\\frac{1}{2}")]

    def run() -> list[tuple[int, int]]:
        gen.calls.clear()
        step = ModelValidation(ValidatorConfig(spec=f"hf:{model}", samples=2), tmp_path / "cache", generator=gen)
        assert [p.id for p in step(iter(probs), PipelineContext())] == ["h"]
        return list(gen.calls)

    assert run() == [(1, 2)]
    assert run() == []  # same model: every sample from the cache
    (model / "model.safetensors").write_bytes(b"weights-2")  # retrained in place
    assert run() == [(1, 2)]


def test_hf_validator_spec_builds_a_local_generator_and_caches(tmp_path: Path) -> None:
    import torch

    torch.set_num_threads(1)
    from acereason.models.tiny import build_char_tokenizer, build_tiny_model, save_tiny

    tok = build_char_tokenizer()
    save_tiny(build_tiny_model(tok), tok, tmp_path / "m")
    cfg = ValidatorConfig(spec=f"hf:{tmp_path / 'm'}", samples=2, max_tokens=8)
    probs = [math_problem("a", "What is one plus one?", "2"), math_problem("b", "What is two plus two?", "4")]
    ctx = PipelineContext()
    step = ModelValidation(cfg, tmp_path / "cache", batch_size=1)
    assert list(step(iter(probs), ctx)) == []  # a random tiny model solves nothing: both dropped, not crashed
    assert sum(ctx.drops.values()) == 2 and len(ResponseCache(tmp_path / "cache")) == 4
    again = ModelValidation(cfg, tmp_path / "cache")
    list(again(iter(probs), PipelineContext()))
    assert again._generator is None  # everything came from the cache: the model was never loaded


# --- acceptance: kill -9 during validation, restart, no repeated model call for a finished sample -------------

def _cached_keys(cache_dir: Path) -> set[str]:
    keys = set()
    for f in cache_dir.glob("responses-*.jsonl"):
        for line in f.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):  # a torn last line from the killed writer
                keys.add(json.loads(line)["key"])
    return keys


def _prompt_of(req: dict) -> str:
    return req["messages"][-1]["content"] if req.get("messages") else req["prompt"]


def test_kill_9_during_validation_never_repeats_a_finished_sample(tmp_path: Path) -> None:
    """Issue 8 acceptance, against a real ``acereason serve`` process that logs every request it receives."""
    import torch

    torch.set_num_threads(1)
    from acereason.curate.validate import ValidatorConfig as Cfg
    from acereason.curate.validate import validator_prompt
    from acereason.models.tiny import build_char_tokenizer, build_tiny_model, save_tiny

    tok = build_char_tokenizer()
    save_tiny(build_tiny_model(tok), tok, tmp_path / "model")
    log = tmp_path / "requests.jsonl"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    server = subprocess.Popen([sys.executable, "-m", "acereason", "serve", str(tmp_path / "model"), "--port", "0",
                               "--device", "cpu", "--request-log", str(log), "--model-name", "tiny"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        lines = []
        while not (lines and "serving" in lines[-1]):
            lines.append(server.stdout.readline())
            assert lines[-1] or server.poll() is None, "".join(lines)
        url = re.search(r"(http://\S+/v1)", lines[-1]).group(1)
        src = tmp_path / "math.jsonl"
        problems = [math_problem(f"p{i}", f"Problem {i}: what is {i} plus {i}, written in digits?", str(2 * i))
                    for i in range(24)]
        src.write_text("".join(p.model_dump_json() + "\n" for p in problems))
        work, out = tmp_path / "work", tmp_path / "out.jsonl"
        cmd = [sys.executable, "-m", "acereason", "curate", "math", str(src), "--out", str(out), "--work-dir",
               str(work), "--validator", f"openai:{url}#tiny", "--samples", "2", "--max-tokens", "24",
               "--chunk", "1", "--min-response-tokens", "0"]
        run = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        cache_dir = work / "cache"
        deadline = time.monotonic() + 180
        while len(_cached_keys(cache_dir)) < 6 and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        run.send_signal(signal.SIGKILL)
        assert run.wait() == -signal.SIGKILL, "the run finished before it could be killed"
        finished = _cached_keys(cache_dir)
        n_before = len(log.read_text().splitlines())
        assert 6 <= len(finished) < 48 and not out.exists()
        # Which prompts had all their samples cached when the run was killed.
        params = Cfg(spec="x", max_tokens=24)
        sp = SamplingParams(temperature=params.temperature, top_p=params.top_p, max_tokens=24, seed=params.seed)
        spec = f"openai:{url}#tiny"
        done_prompts = {validator_prompt(p)[-1]["content"] for p in problems
                        if all(cache_key(spec, validator_prompt(p), sp, i) in finished for i in range(2))}
        assert len(done_prompts) >= 3

        rerun = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        after = [json.loads(x) for x in log.read_text().splitlines()[n_before:]]
        asked = [_prompt_of(r) for r in after]
        assert not set(asked) & done_prompts  # no finished sample is asked for again
        assert len(asked) == len(set(asked)) == len(problems) - len(done_prompts)
        assert len(_cached_keys(cache_dir)) == 2 * len(problems)
        assert out.exists()
    finally:
        server.kill()
        server.wait()
