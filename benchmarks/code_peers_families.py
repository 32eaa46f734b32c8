"""Hand-made case families for benchmarks/code_peers.py: what reference solutions never exercise.

Each family is a small problem with programs a model writes, each with the verdict a correct judge gives
(``intended``) and why. Families: float outputs (tolerance), ``True`` vs ``1``, many tests per problem,
model-like failures (infinite loops, huge outputs, exceptions after partial output, exit codes) and
stdin idioms over several tests (``open(0)``, ``sys.stdin`` iteration, ``sys.stdin.buffer``, ``quit()``).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator


def _sub(family: str, name: str, code: str, inputs: list[str], outputs: list[str], intended: bool, why: str,
         fn_name: str | None = None) -> dict:
    return {"id": f"family:{family}/{name}", "group": f"family:{family}", "code": code, "fn_name": fn_name,
            "inputs": inputs, "outputs": outputs, "intended": intended, "native": None, "why": why}


def _floats(rng: random.Random) -> Iterator[dict]:
    pairs = [(rng.randint(1, 10**6), rng.randint(1, 999)) for _ in range(8)]
    inputs = [f"{a} {b}\n" for a, b in pairs]
    outputs = [f"{a / b:.10f}\n" for a, b in pairs]
    read = "a, b = map(int, input().split())\n"
    yield _sub("float", "stdin_repr", read + "print(a / b)\n", inputs, outputs, True,
               "repr of the exact quotient; expected has 10 decimals (statement: 1e-6 tolerance)")
    yield _sub("float", "stdin_6dp", read + "print(f'{a / b:.6f}')\n", inputs, outputs, True,
               "6 decimals: within 1e-6 of the expected value")
    yield _sub("float", "stdin_2dp", read + "print(f'{a / b:.2f}')\n", inputs, outputs, False,
               "2 decimals: off by up to 5e-3")
    call_in = [f"{a}\n{b}" for a, b in pairs]
    call_out = [json.dumps(round(a / b, 10)) for a, b in pairs]
    yield _sub("float", "call_exact_quotient", "def ratio(a, b):\n    return a / b\n", call_in, call_out, True,
               "returns a/b; expected is a/b rounded to 10 decimals", "ratio")
    yield _sub("float", "call_sum_tenths", "def ratio(a, b):\n    return sum([a / b / 10] * 10)\n", call_in,
               call_out, True, "a/b as ten tenths: float rounding error only", "ratio")
    yield _sub("float", "call_rounded_2dp", "def ratio(a, b):\n    return round(a / b, 2)\n", call_in, call_out,
               False, "rounded to 2 decimals", "ratio")


def _bools() -> Iterator[dict]:
    nums = list(range(1, 9))
    inputs = [str(n) for n in nums]
    as_bool = [json.dumps(n % 2 == 0) for n in nums]
    as_int = [json.dumps(int(n % 2 == 0)) for n in nums]
    yield _sub("bool_int", "int_for_bool", "def is_even(n):\n    return 1 if n % 2 == 0 else 0\n", inputs, as_bool,
               False, "returns 1/0 where true/false is expected (LeetCode's JSON compare: wrong answer)", "is_even")
    yield _sub("bool_int", "bool_for_int", "def is_even(n):\n    return n % 2 == 0\n", inputs, as_int, False,
               "returns True/False where 1/0 is expected", "is_even")
    yield _sub("bool_int", "bool_for_bool", "def is_even(n):\n    return n % 2 == 0\n", inputs, as_bool, True,
               "control: the right type", "is_even")


def _many(rng: random.Random) -> Iterator[dict]:
    for n_tests in (100, 500):
        rows = [[rng.randint(-10**9, 10**9) for _ in range(rng.randint(1, 30))] for _ in range(n_tests)]
        inputs = [f"{len(r)}\n{' '.join(map(str, r))}\n" for r in rows]
        outputs = [f"{sum(r)}\n" for r in rows]
        prog = "n = int(input())\nxs = list(map(int, input().split()))\n"
        yield _sub("many_tests", f"stdin_{n_tests}_ok", prog + "print(sum(xs))\n", inputs, outputs, True,
                   f"{n_tests} tests, correct")
        last = len(rows[-1])
        yield _sub("many_tests", f"stdin_{n_tests}_wrong_last", prog + f"print(sum(xs) + (n == {last} and "
                   f"xs[0] == {rows[-1][0]}))\n", inputs, outputs, False, "wrong on the last test only")
        call_in = [json.dumps(r) for r in rows]
        call_out = [json.dumps(sum(r)) for r in rows]
        yield _sub("many_tests", f"call_{n_tests}_ok", "def total(xs):\n    return sum(xs)\n", call_in, call_out,
                   True, f"{n_tests} call tests, correct", "total")
        # Wrong on the 11th test's input alone (a trigger in the input, not a call counter: each test is
        # judged as in a fresh process, where a counter would never reach 11).
        yield _sub("many_tests", f"call_{n_tests}_wrong_11th", "def total(xs):\n"
                   f"    return sum(xs) + (len(xs) == {len(rows[10])} and xs[0] == {rows[10][0]})\n", call_in,
                   call_out, False, "wrong on the 11th test only (a judge that checks only 10 tests passes it)",
                   "total")


def _failures() -> Iterator[dict]:
    inputs = ["3\n1 2 3\n", "2\n5 5\n", "1\n7\n"]
    outputs = ["6\n", "10\n", "7\n"]
    read = "n = int(input())\nxs = list(map(int, input().split()))\n"
    yield _sub("failure", "infinite_loop", read + "while True:\n    pass\n", inputs, outputs, False, "never ends")
    yield _sub("failure", "loop_after_output", read + "print(sum(xs))\nwhile True:\n    n += 1\n", inputs, outputs,
               False, "right answer printed, then never ends")
    yield _sub("failure", "loop_on_last_test", read + "while n == 1:\n    pass\nprint(sum(xs))\n", inputs, outputs,
               False, "loops on the last test only")
    yield _sub("failure", "call_infinite_loop", "def total(xs):\n    while True:\n        pass\n",
               ["[1, 2, 3]", "[5, 5]"], ["6", "10"], False, "call-based, never returns", "total")
    yield _sub("failure", "huge_output", read + "print(sum(xs))\nprint('9' * 50_000_000)\n", inputs, outputs, False,
               "right answer then 50 MB of junk")
    yield _sub("failure", "many_lines_output", read + "for i in range(3_000_000):\n    print(i)\n", inputs, outputs,
               False, "3 M lines of wrong output")
    yield _sub("failure", "raise_after_partial", read + "print(xs[0])\nraise ValueError('boom')\n", inputs, outputs,
               False, "prints part, then raises")
    yield _sub("failure", "raise_after_full", read + "print(sum(xs))\nraise ValueError('boom')\n", inputs, outputs,
               False, "prints the right answer, then raises (runtime error on every contest judge)")
    yield _sub("failure", "exit1_after_full", read + "import sys\nprint(sum(xs))\nsys.exit(1)\n", inputs, outputs,
               False, "right answer, exit status 1 (runtime error on Codeforces/AtCoder)")
    yield _sub("failure", "exit0_after_full", read + "import sys\nprint(sum(xs))\nsys.exit(0)\n", inputs, outputs,
               True, "right answer, then sys.exit(0)")
    yield _sub("failure", "quit_after_full", read + "print(sum(xs))\nquit()\n", inputs, outputs, True,
               "right answer, then quit()")
    yield _sub("failure", "exit_after_full", read + "print(sum(xs))\nexit()\n", inputs, outputs, True,
               "right answer, then exit()")
    yield _sub("failure", "recursion_error", read + "def f(k):\n    return f(k + 1)\nprint(f(0))\n", inputs, outputs,
               False, "unbounded recursion")
    yield _sub("failure", "call_raises", "def total(xs):\n    return xs[10]\n", ["[1, 2, 3]"], ["6"], False,
               "IndexError", "total")
    yield _sub("failure", "syntax_error", "def total(xs)\n    return sum(xs)\n", ["[1, 2, 3]"], ["6"], False,
               "does not compile", "total")


def _idioms() -> Iterator[dict]:
    inputs = ["3\n1 2 3\n", "2\n5 5\n", "4\n1 1 1 1\n"]
    outputs = ["6\n", "10\n", "4\n"]
    progs = {
        "open0_read": "data = open(0).read().split()\nprint(sum(map(int, data[1:])))\n",
        "open0_lines": "lines = open(0).readlines()\nprint(sum(map(int, lines[1].split())))\n",
        "stdin_read": "import sys\ndata = sys.stdin.read().split()\nprint(sum(map(int, data[1:])))\n",
        "stdin_buffer": "import sys\ndata = sys.stdin.buffer.read().split()\nprint(sum(map(int, data[1:])))\n",
        "stdin_readline": "import sys\ninput = sys.stdin.readline\nn = int(input())\n"
                          "print(sum(map(int, input().split())))\n",
        "stdin_iter": "import sys\nrows = [line for line in sys.stdin]\nprint(sum(map(int, rows[1].split())))\n",
        "main_guard": "def main():\n    n = int(input())\n    print(sum(map(int, input().split())))\n\n"
                      "if __name__ == '__main__':\n    main()\n",
        "print_end_space": "n = int(input())\nprint(sum(map(int, input().split())), end=' \\n\\n')\n",
        "write_stdout": "import sys\nn = int(input())\nsys.stdout.write(str(sum(map(int, input().split()))))\n",
    }
    for name, code in progs.items():
        yield _sub("idiom", name, code, inputs, outputs, True, "correct; common stdin/stdout idiom, 3 tests")


def families(seed: int = 0) -> Iterator[dict]:
    """All hand-made submissions (deterministic for a seed)."""
    rng = random.Random(seed)
    yield from _floats(rng)
    yield from _bools()
    yield from _many(rng)
    yield from _failures()
    yield from _idioms()
