"""Benchmark our veRL batch reward manager against veRL's default per-sample path, on 1,024 code responses.

Run in veRL's venv: ``.venv-verl/bin/python benchmarks/verl_reward.py [--n 1024] [--write]`` (``--write``
replaces the "## veRL reward manager" section of benchmarks/RESULTS.md). Problems: LeetCodeDataset test split
from ../shared/data (real problems, ``check`` tests); responses: the reference completion (honest), a mutated
one (wrong), and adversarial programs (raise, infinite loop, a left-behind ``sleep`` via double fork, early
``sys.exit(0)``, no code). Both paths run through veRL 0.9.1's own ``RewardLoopWorker.compute_score_batch`` on a
``DataProto``: ours (``AceReasonRewardManager``) and veRL's default ``naive`` manager calling our
``compute_score`` per sample. Every verdict is compared with ``acereason verify code`` on the same programs,
and the machine is scanned for left-behind processes after each path.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ACEREASON_SHARED_DATA", REPO.parent / "shared" / "data"))
RESULTS = REPO / "benchmarks" / "RESULTS.md"
MARK = "876543"
TIME_LIMIT_S = 1.0  # CPU seconds per test (keeps the infinite loops' cost bounded on 2 cores)

KINDS = ["honest"] * 9 + ["wrong"] * 4 + ["raise", "loop", "fork_sleep", "exit0", "no_code"]


def programs(n: int) -> list[tuple[dict, str, str]]:
    """``n`` (problem record, response, kind) from LeetCodeDataset, kinds cycling through :data:`KINDS`."""
    with gzip.open(SHARED / "leetcodedataset" / "LeetCodeDataset-v0.3.1-test.jsonl.gz", "rt") as fh:
        rows = [json.loads(line) for line in fh]
    out = []
    for i in range(n):
        r = rows[i % len(rows)]
        kind = KINDS[i % len(KINDS)]
        code = r["completion"]
        body = {"honest": code, "wrong": code.replace("return ", "return 1 + ", 1) if "return " in code else "x = (",
                "raise": code + "\nraise RuntimeError('boom')\n", "loop": "while True:\n    pass\n",
                "fork_sleep": ("import os\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                               f"        os.execvp('sleep', ['sleep', '{MARK}'])\n    os._exit(0)\n" + code),
                "exit0": "import sys\nsys.exit(0)\n" + code, "no_code": None}[kind]
        resp = "<think>...</think>I cannot." if body is None else f"<think>...</think>\n```python\n{body}\n```"
        out.append(({"id": f"{r['task_id']}#{i}", "fn_name": r["entry_point"],
                     "tests": [{"testtype": "check", "input": r["test"]}]}, resp, kind))
    return out


# the program's own CPU time on one check test, outside the judge: load the program (after the dataset's import
# header), then check(candidate) in a fresh interpreter; the parent reads the child's CPU from wait4
_CPU_RUNNER = """
import sys
ns = {}
exec(compile(open(sys.argv[1]).read(), "program", "exec"), ns)
exec(compile(open(sys.argv[2]).read(), "test", "exec"), ns)
ns["check"](eval(sys.argv[3], ns))
"""


def cpu_seconds(program: str, test: str, entry: str, cap_s: int = 5) -> tuple[float, int]:
    """(user + system CPU seconds, exit status) of one unjudged run of ``program`` on its ``check`` test, in a
    subprocess with an RLIMIT_CPU of ``cap_s``; the interpreter's start-up (an empty run) is subtracted."""
    import resource

    with tempfile.TemporaryDirectory() as d:
        prog, tst = Path(d) / "p.py", Path(d) / "t.py"
        prog.write_text(program)
        tst.write_text(test)

        def run(argv: list[str]) -> tuple[float, int]:
            pid = os.fork()
            if pid == 0:  # child: cap the CPU, silence output, exec the interpreter
                resource.setrlimit(resource.RLIMIT_CPU, (cap_s, cap_s + 1))
                fd = os.open(os.devnull, os.O_RDWR)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                os.execv(sys.executable, [sys.executable, "-c", *argv])
            _, status, ru = os.wait4(pid, 0)
            return ru.ru_utime + ru.ru_stime, os.waitstatus_to_exitcode(status)

        base, _ = run(["pass"])
        cpu, code = run([_CPU_RUNNER, str(prog), str(tst), entry])
    return max(0.0, cpu - base), code


def borderline(repeats: int, lo: float, hi: float) -> str:
    """The LeetCodeDataset problems whose honest program runs within [lo, hi] x the time limit of CPU on its check
    test, each measured ``repeats`` times, and judged ``repeats`` times by ``acereason verify code`` at the
    benchmark's limit: is a verdict that differs between two judgings timing at the limit?"""
    import statistics

    with gzip.open(SHARED / "leetcodedataset" / "LeetCodeDataset-v0.3.1-test.jsonl.gz", "rt") as fh:
        rows = [json.loads(line) for line in fh]
    first = {r["task_id"]: cpu_seconds(r["prompt"] + "\n" + r["completion"], r["test"], r["entry_point"])
             for r in rows}
    near = [r for r in rows if lo * TIME_LIMIT_S <= first[r["task_id"]][0] <= hi * TIME_LIMIT_S]
    out = [f"{len(rows)} problems measured once; {len(near)} within [{lo:g}, {hi:g}] x {TIME_LIMIT_S:g} s: "
           f"{sum(c[0] > TIME_LIMIT_S for c in first.values())} over the limit in total.", "",
           f"| problem | CPU s x{repeats} (min / median / max) | verdicts of `verify code` x{repeats} |",
           "|---|---|---|"]
    tmp = Path(tempfile.mkdtemp(prefix="verl-borderline-"))
    for r in near:
        cpus = [first[r["task_id"]][0]] + [cpu_seconds(r["prompt"] + "\n" + r["completion"], r["test"],
                                                        r["entry_point"])[0] for _ in range(repeats - 1)]
        jl = tmp / "one.jsonl"
        jl.write_text(json.dumps({"id": r["task_id"], "response": f"```python\n{r['completion']}\n```",
                                  "tests": [{"testtype": "check", "input": r["test"]}], "fn_name": r["entry_point"],
                                  "time_limit_s": TIME_LIMIT_S}) + "\n")
        verdicts = []
        for _ in range(repeats):
            subprocess.run([sys.executable, "-m", "acereason", "verify", "code", str(jl), "--out",
                            str(tmp / "o.jsonl"), "--workers", "1"], check=True, capture_output=True)
            verdicts.append(json.loads((tmp / "o.jsonl").read_text())["status"])
        counts = ", ".join(f"{k} {verdicts.count(k)}" for k in dict.fromkeys(verdicts))
        out.append(f"| {r['task_id']} | {min(cpus):.2f} / {statistics.median(cpus):.2f} / {max(cpus):.2f} | "
                   f"{counts} |")
    return "\n".join(out)


def survivors() -> int:
    n = 0
    for pid in os.listdir("/proc"):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if pid.isdigit() else []
        except OSError:
            continue
        n += bool(cmd) and cmd[0].endswith(b"sleep") and MARK.encode() in cmd
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--borderline", type=int, default=0, metavar="R",
                    help="instead: measure the honest programs' CPU time per check test and judge those near the "
                         "limit R times (no veRL needed)")
    args = ap.parse_args()
    if args.borderline:
        print(borderline(args.borderline, lo=0.5, hi=2.0))
        return

    import verl
    from hydra import compose, initialize_config_dir
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

    from acereason.integrations.verl_batch import VERDICT_KEYS, verdict_class
    from acereason.integrations.verl_data import dataproto_batch
    from acereason.integrations.verl_export import problem_row
    from acereason.models.tiny import build_char_tokenizer, build_tiny_model, save_tiny
    from acereason.rl.recipe import CODE_INSTRUCTION, MATH_INSTRUCTION
    from acereason.schema import Problem, TestCase, Verdict
    from acereason.verify.code.pool import cores

    items = programs(args.n)
    tmp = Path(tempfile.mkdtemp(prefix="verl-reward-"))
    tok = build_char_tokenizer(extra_chars="".join(sorted({c for _, r, _ in items for c in r if ord(c) > 126})))
    model = save_tiny(build_tiny_model(tok), tok, tmp / "tiny")
    problems = [Problem(id=p["id"], domain="code", prompt="(leetcode)", source="leetcodedataset",
                        fn_name=p["fn_name"], tests=[TestCase(**t) for t in p["tests"]], time_limit_s=TIME_LIMIT_S)
                for p, _, _ in items]
    rows = [problem_row(p, i, math_instruction=MATH_INSTRUCTION, code_instruction=CODE_INSTRUCTION)
            for i, p in enumerate(problems)]
    responses = [r for _, r, _ in items]
    data = dataproto_batch(tok, rows, responses, max_response_length=max(len(tok.encode(r)) for r in responses) + 1)
    config_dir = str(Path(verl.__file__).parent / "trainer" / "config")
    common = [f"actor_rollout_ref.model.path={model}", "reward.custom_reward_function.name=compute_score",
              "reward.custom_reward_function.path=pkg://acereason.integrations.verl"]
    paths = {
        "ours: AceReasonRewardManager (one batch, one deadline)": [
            "reward.reward_manager.source=importlib", "reward.reward_manager.name=AceReasonRewardManager",
            "reward.reward_manager.module.path=pkg://acereason.integrations.verl_reward_manager",
            "+acereason.reward.timeout_s=30"],
        "veRL default: naive manager, compute_score per sample": [],
    }
    # the reference: acereason verify code on the same programs
    jl = tmp / "in.jsonl"
    jl.write_text("".join(json.dumps({"id": p["id"], "response": r, "tests": p["tests"], "fn_name": p["fn_name"],
                                      "time_limit_s": TIME_LIMIT_S}) + "\n" for p, r, _ in items))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "acereason", "verify", "code", str(jl), "--out", str(tmp / "out.jsonl")],
                   check=True, capture_output=True)
    t_cli = time.perf_counter() - t0
    ref = [verdict_class(Verdict(correct=o["passed"], reason=o["status"]))
           for o in map(json.loads, (tmp / "out.jsonl").read_text().splitlines())]
    rows_out = []
    for name, extra in paths.items():
        with initialize_config_dir(config_dir=config_dir, version_base=None):
            cfg = compose(config_name="ppo_trainer", overrides=common + extra)
        worker = RewardLoopWorker(cfg)
        t0 = time.perf_counter()
        out = worker.reward_manager.loop.run_until_complete(worker.compute_score_batch(data))
        dt = time.perf_counter() - t0
        if "verdict/accepted" in out[0]["reward_extra_info"]:
            got = [next(k for k in VERDICT_KEYS if o["reward_extra_info"][f"verdict/{k}"] == 1.0) for o in out]
            agree = sum(g == r for g, r in zip(got, ref, strict=True))
            deadline = worker.reward_manager.batches[-1]["deadline_s"]
            differ = [f"{items[i][0]['id']} ({items[i][2]}): verify code {r}, manager {g}"
                      for i, (g, r) in enumerate(zip(got, ref, strict=True)) if g != r]
            print("disagreements:", differ or "none", file=sys.stderr)
        else:  # veRL's default path reports only score: compare accepted / not
            got = ["accepted" if o["reward_score"] == 1.0 else "other" for o in out]
            agree = sum((g == "accepted") == (r == "accepted") for g, r in zip(got, ref, strict=True))
            deadline = None
        counts = {k: got.count(k) for k in dict.fromkeys(got)}
        rows_out.append([name, f"{dt:.1f}", f"{len(out) / dt:.1f}", f"{agree}/{len(out)}",
                         "-" if deadline is None else f"{deadline:.0f}", str(survivors()),
                         ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))])
    ref_counts = {k: ref.count(k) for k in dict.fromkeys(ref)}
    head = ["path", "wall s", "responses/s", "agrees with `verify code`", "deadline s", "left-behind processes",
            "verdicts"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows_out]
    text = (f"## veRL reward manager\n\n`.venv-verl/bin/python benchmarks/verl_reward.py --n {args.n}` "
            f"({platform.processor() or platform.machine()}, {cores()} cores, veRL {verl.__version__}): "
            f"{args.n} responses to LeetCodeDataset test problems (kinds cycling honest x9, wrong x4, raise, infinite "
            f"loop, double-fork sleep, early sys.exit(0), no code; {TIME_LIMIT_S:g} s CPU per test), through veRL's "
            "own `RewardLoopWorker.compute_score_batch` on one `DataProto`. Reference: `acereason verify code` on the "
            f"same programs ({t_cli:.1f} s): " + ", ".join(f"{k} {v}" for k, v in sorted(ref_counts.items())) +
            ". veRL's default path reports only the score, so its agreement is on accepted / not.\n\n"
            + "\n".join(lines) + "\n")
    print(text)
    if args.write:
        sys.path.insert(0, str(REPO))  # `benchmarks.results` when run as a script
        from benchmarks.results import write_section

        title, _, body = text.partition("\n")
        write_section(title.removeprefix("## "), body, RESULTS)


if __name__ == "__main__":
    main()
