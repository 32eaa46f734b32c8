"""Tables for benchmarks/code_peers.py: corpus acceptance, agreement, throughput, where our time goes.

The time split is measured from the outside (the judge is not instrumented): wall of trivial submissions
(start), the slope over many tests (per test), our comparison functions timed in-process on the set's own
expected outputs (compare), and an infinite loop's wall against its limit (limits).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections import Counter
from pathlib import Path

from acereason.atomic import write_text
from acereason.verify.code import JudgePool, judge
from acereason.verify.code.compare import parse_json_value, stdout_matches, values_match

RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "## Code judge vs peer harnesses"
BATCHES = ("references", "variants", "families")
NAMES = {"lcb": "LiveCodeBench", "prime": "veRL prime_code"}
LIMIT_S = 6.0  # the time limit every judge runs with here (LiveCodeBench's timeout=6)


def _wall(code: str, tests: list[dict], fn: str | None, pool: JudgePool, limit: float = 6.0) -> float:
    t0 = time.perf_counter()
    judge(code, tests, fn_name=fn, pool=pool, time_limit_s=limit)
    return time.perf_counter() - t0


def breakdown(pool: JudgePool, subs: list[dict], ours: dict[str, dict], reps: int = 15) -> dict[str, float]:
    """Where one submission's time goes in our judge (seconds), measured from the outside."""
    one = [{"testtype": "stdin", "input": "7\n", "output": "7"}]
    call = [{"testtype": "functional", "input": "[1, 2, 3]", "output": "6"}]
    _wall("print(input())", one, None, pool)  # warm
    out = {"start_s": statistics.median(_wall("print(input())", one, None, pool) for _ in range(reps))}
    out["per_stdin_test_s"] = statistics.median(
        (_wall("print(input())", one * 201, None, pool) - _wall("print(input())", one, None, pool)) / 200
        for _ in range(5))
    code = "def f(xs):\n    return sum(xs)\n"
    out["per_call_test_s"] = statistics.median(
        (_wall(code, call * 201, "f", pool) - _wall(code, call, "f", pool)) / 200 for _ in range(5))
    n_tests, t0 = 0, time.perf_counter()
    for s in subs:
        for o in s["outputs"]:
            if s["fn_name"]:
                with contextlib.suppress(ValueError):
                    values_match(parse_json_value(o), parse_json_value(o))
            else:
                stdout_matches(o, o)
            n_tests += 1
    out["compare_per_test_s"] = (time.perf_counter() - t0) / max(1, n_tests)
    out["tests_per_submission"] = n_tests / max(1, len(subs))
    loop = [{"testtype": "stdin", "input": "", "output": "1"}]
    for lim in (1.0, 2.0):
        out[f"loop_wall_s_at_limit_{lim:g}"] = _wall("while True:\n    pass\n", loop, None, pool, lim)
    tle = [v["wall_s"] for v in ours.values() if v["reason"] == "time_limit"]
    out["time_limit_verdicts"] = len(tle)
    out["time_limit_mean_wall_s"] = statistics.mean(tle) if tle else 0.0
    walls = [v["wall_s"] for v in ours.values() if v["reason"] != "time_limit"]
    out["other_mean_wall_s"] = statistics.mean(walls) if walls else 0.0
    return out


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]


def _block(head: list[str], rows: list[list[str]]) -> list[str]:
    return [*_table(head, rows), ""]


def fault(sub: dict, verdicts: dict[str, bool]) -> str:
    """Whose verdict is wrong where the truth is known (references, families); '?' for variants."""
    want = sub["intended"]
    if want is None:
        return "?"
    wrong = [k for k, v in verdicts.items() if v != want]
    return ",".join(wrong) if wrong else "none"


def _corpus_rows(result: dict, corpus: list[dict]) -> list[list[str]]:
    by: dict[str, list[bool]] = {}
    for s in corpus:
        by.setdefault(s["group"], []).append(result["native"][s["id"]]["accepted"])
    rows = [[g, str(len(v)), str(sum(v)), f"{100 * sum(v) / len(v):.2f}%", str(result["check_only"].get(g, 0))]
            for g, v in by.items()]
    n, ok = sum(len(v) for v in by.values()), sum(sum(v) for v in by.values())
    total = ["**all**", str(n), str(ok), f"**{100 * ok / max(1, n):.2f}%**", str(sum(result["check_only"].values()))]
    return [*rows, total]


def report(result: dict, corpus: list[dict]) -> str:
    """The markdown section (also printed)."""
    env, subs, ours, peers = result["env"], result["subs"], result["ours"], result["peers"]
    lines = [SECTION, "", f"`PYTHONPATH=. .venv/bin/python benchmarks/code_peers.py {' '.join(env['argv'])}` at "
             f"judge commit `{env['commit']}`, {env['when']}, {env['machine']} {env['cores']} cores (shared; load "
             f"{env['load']:.1f} at the end), {env['workers']} workers each, ours on Python {env['python']}; "
             + "; ".join(f"{NAMES[p]} `{r['commit'][:12]}` on Python {r['python']}" for p, r in peers.items()) + ".",
             ""]
    if corpus:
        lines += ["Reference corpus, our judge, native tests (LeetCode `check` code as given):", ""]
        lines += _block(["group", "references", "accepted", "rate", "without a call-based form (not in the peer set)"],
                        _corpus_rows(result, corpus))
    ids = list(subs)
    names = ["ours", *peers]
    verdict = {i: {"ours": ours[i]["accepted"]} | {p: peers[p]["verdicts"][i] for p in peers} for i in ids}
    rows = []
    for b in (*BATCHES, "all"):
        sel = [i for i in ids if b == "all" or _batch(subs[i]) == b]
        if not sel:
            continue
        row = [b, str(len(sel)), str(sum(subs[i]["tests"] for i in sel))]
        row += [str(sum(verdict[i][n] for i in sel)) for n in names]
        row += [f"{sum(verdict[i]['ours'] == verdict[i][p] for i in sel)}/{len(sel)}" for p in peers]
        rows.append(row)
    lines += ["Peer set: the same submissions and tests for all three (LeetCode asserts as call-based tests):", ""]
    lines += _block(["batch", "submissions", "tests", *[f"accepted ({n})" for n in names],
                     *[f"agree ours/{p}" for p in peers]], rows)
    lines += _throughput(result, ids, names, list(peers))
    bd = result["breakdown"]
    lines += ["Where our time goes (measured from outside the judge):", ""]
    lines += _block(["part", "time"], [
        ["start: whole 1-test trivial submission (median wall)", f"{bd['start_s'] * 1e3:.1f} ms"],
        ["per stdin test (slope over 200 tests)", f"{bd['per_stdin_test_s'] * 1e3:.2f} ms"],
        ["per call-based test (slope over 200 tests)", f"{bd['per_call_test_s'] * 1e3:.2f} ms"],
        ["compare: our comparison per test, on this set's expected outputs",
         f"{bd['compare_per_test_s'] * 1e6:.1f} µs"],
        ["tests per submission (this set)", f"{bd['tests_per_submission']:.1f}"],
        ["limits: `while True: pass` wall at a 1 s / 2 s limit",
         f"{bd['loop_wall_s_at_limit_1']:.2f} s / {bd['loop_wall_s_at_limit_2']:.2f} s"],
        ["limits: mean wall of our time_limit verdicts here (6 s limit)",
         f"{bd['time_limit_mean_wall_s']:.2f} s ({bd['time_limit_verdicts']} verdicts)"],
        ["mean wall of all other verdicts here", f"{bd['other_mean_wall_s'] * 1e3:.1f} ms"],
    ])
    lines += _disagreements(subs, ours, verdict, list(peers))
    return "\n".join(lines) + "\n"


def _peer_seconds(seconds: dict[str, float], batch: str, part: str | None) -> float:
    """A peer's seconds for ``batch`` ("all" for every batch), summed over its quick/heavy parts or one."""
    return sum(v for k, v in seconds.items() if (batch == "all" or k.split("/")[0] == batch)
               and (part is None or k.endswith("/" + part)))


def _throughput(result: dict, ids: list[str], names: list[str], peers: list[str]) -> list[str]:
    """Two tables: every submission (loops included), and the quick part alone; then what bounds the first."""
    subs, heavy, floor = result["subs"], set(result.get("heavy", [])), result.get("floor")
    ours_all, ours_quick = result["ours_seconds"], result.get("ours_quick_seconds", {})
    lines: list[str] = []
    for part, title in ((None, "every submission, loops and all failures included"),
                        ("quick", f"the quick part: submissions that ran < 1 s in our judge and did not loop "
                                  f"({len(ids) - len(heavy)} of {len(ids)})")):
        rows = []
        src = ours_all if part is None else {k.split("/")[0]: v for k, v in ours_quick.items()}
        for b in (*BATCHES, "all"):
            sel = [i for i in ids if (b == "all" or _batch(subs[i]) == b) and (part is None or i not in heavy)]
            if not sel:
                continue
            t = {"ours": sum(src.values()) if b == "all" else src.get(b, 0.0)}
            t |= {p: _peer_seconds(result["peers"][p]["seconds"], b, part) for p in peers}
            row = [b, str(len(sel))] + [f"{len(sel) / t[k]:.1f}" if t[k] else "-" for k in names]
            row += [f"**{t[p] / t['ours']:.1f}x**" if t["ours"] else "-" for p in peers]
            if floor:
                t_floor = _peer_seconds(floor["seconds"], b, part)
                row += [f"{len(sel) / t_floor:.1f}" if t_floor else "-"]
                row += [f"{t[p] / t_floor:.1f}x" if t_floor else "-" for p in peers]
            rows.append(row)
        lines += [f"Throughput, submissions/s ({title}; same cores, side by side):", ""]
        lines += _block(["batch", "submissions", *[f"{n} subs/s" for n in names], *[f"ours vs {p}" for p in peers],
                         *(["floor subs/s", *[f"most possible vs {p}" for p in peers]] if floor else [])], rows)
    if floor:
        same = sum(floor["verdicts"][i] == result["ours"][i]["accepted"] for i in ids)
        lines += ["floor = the no-isolation floor (benchmarks/code_peers_floor.py): each worker runs the programs "
                  "in itself, nothing per submission or test but a `dup2` of the input and an `exec`, the same "
                  "comparison functions and a 6 s CPU timer per test. On the quick part no judge that isolates "
                  "submissions can beat it, so there *most possible vs peer* (the peer's time / the floor's) is the "
                  "largest ratio any judge could reach over that peer. On the heavy part it is no floor (there the "
                  "time is the programs' own CPU and how a few long submissions fall on the workers), "
                  "so the first table's column is indicative and the bound below is the strict one. Its verdicts "
                  f"match ours on {same} of "
                  f"{len(ids)} (it shares one process between submissions, so it is a yardstick, not a judge).", ""]
    if heavy and peers:
        tle = [i for i in heavy if result["ours"][i]["reason"] == "time_limit"]
        workers = result["env"]["workers"]
        loop_s = len(tle) * LIMIT_S / max(1, workers)
        quick_floor = _peer_seconds(floor["seconds"], "all", "quick") if floor else 0.0
        least = loop_s + quick_floor
        rows = []
        for p in peers:
            total = _peer_seconds(result["peers"][p]["seconds"], "all", None)
            rows.append([NAMES[p], f"{total:.0f} s", f"{quick_floor:.1f} s" if floor else "-", f"{loop_s:.0f} s",
                         f"**{total / least:.1f}x**" if least else "-"])
        lines += [f"What bounds the first table: {len(tle)} submissions loop until the 6 s limit in our judge, and a "
                  f"loop costs any judge the limit in CPU time (LiveCodeBench stops it with a 6 s `alarm`), so with "
                  f"{workers} workers no judge finishes them faster than {len(tle)} x {LIMIT_S:g} s / {workers} = "
                  f"{loop_s:.0f} s; no judge runs the quick part faster than the no-isolation floor does; and the "
                  "heavy correct programs (seconds of their own CPU) are counted as free. The peer's whole-set time "
                  "over that sum is the largest ratio any judge could reach on this set:", ""]
        lines += _block(["peer", "peer's whole-set time", "the quick part at the floor",
                         "the loops at the limit, over the workers", "largest possible ratio"], rows)
    return lines


def _batch(sub: dict) -> str:
    return "families" if sub["group"].startswith("family:") else "variants" if "~mut" in sub["group"] \
        else "references"


def _disagreements(subs: dict, ours: dict, verdict: dict, peers: list[str]) -> list[str]:
    bad = [i for i in subs if len(set(verdict[i].values())) > 1]
    if not peers:
        return []
    pattern = Counter((_batch(subs[i]), *("A" if verdict[i][k] else "R" for k in ["ours", *peers]),
                       ours[i]["reason"], fault(subs[i], verdict[i])) for i in bad)
    lines = [f"Disagreements: {len(bad)} (A = accepted, R = rejected; fault = the judge(s) off the known truth, "
             "'?' for variants, classified by hand below):", ""]
    lines += _block(["batch", "ours", *peers, "our reason", "fault", "count"],
                    [[*map(str, k), str(c)] for k, c in pattern.most_common()])
    rows = [[f"`{i}`", *("A" if verdict[i][k] else "R" for k in ["ours", *peers]), ours[i]["reason"],
             fault(subs[i], verdict[i]), (subs[i].get("mutation") or subs[i].get("why") or "")[:80]]
            for i in bad[:80]]
    lines += _table(["submission", "ours", *peers, "our reason", "fault", "mutation / case"], rows)
    if len(bad) > 80:
        lines.append(f"\n({len(bad) - 80} more in the JSON)")
    return [*lines, ""]


def write_section(text: str) -> None:
    """Replace (or append) our generated section of RESULTS.md, leaving every other section alone."""
    old = RESULTS.read_text()
    start = old.find(SECTION + "\n")
    if start < 0:
        new = old.rstrip() + "\n\n" + text
    else:
        end = old.find("\n## ", start + 1)
        new = old[:start] + text + ("" if end < 0 else old[end:])
    write_text(RESULTS, new.rstrip() + "\n")
