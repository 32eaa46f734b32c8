"""Every test of a multi-test submission sees what a fresh process would (issue 14's audit).

Each idiom - reading, replacing, closing or reopening stdin/stdout/stderr at the fd and the Python
level, exiting early, flushing or not, recursion limits, thread stack sizes, atexit, module state - is
judged on a submission with several tests and compared with an oracle: the same program run as a fresh
``python`` process per test (exit status != 0 is a runtime error, else its stdout is compared). A
program whose first test disturbs the process (closes fd 0, replaces ``sys.stdout``, raises the
recursion limit, registers an atexit handler) must not change what the later tests see.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator

import pytest

from acereason.verify.code import JudgePool, judge
from acereason.verify.code.compare import stdout_matches


@pytest.fixture(scope="module")
def pool() -> Iterator[JudgePool]:
    with JudgePool(2) as p:
        yield p


SUMS = [(f"{i} {2 * i + 1}\n", f"{3 * i + 1}\n") for i in (1, 5, 40)]   # "a b" -> a + b, three tests


def stdin_tests(cases: list[tuple[str, str]]) -> list[dict]:
    return [{"testtype": "stdin", "input": i, "output": o} for i, o in cases]


def fresh_process_status(code: str, cases: list[tuple[str, str]]) -> str:
    """The oracle: one fresh interpreter per test; the status of the first failing test."""
    for inp, want in cases:
        with tempfile.TemporaryDirectory() as cwd:  # programs write files: never into the caller's directory
            proc = subprocess.run([sys.executable, "-I", "-c", code], input=inp.encode(), capture_output=True,
                                  timeout=60, cwd=cwd, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"})
        if proc.returncode != 0:
            return "runtime_error"
        if not stdout_matches(proc.stdout.decode("utf-8", "replace"), want):
            return "wrong_answer"
    return "accepted"


def judged(pool: JudgePool, code: str, cases: list[tuple[str, str]]) -> str:
    assert len(cases) >= 3
    v = judge(code, stdin_tests(cases), pool=pool, time_limit_s=6, all_tests=True)
    if v.correct:
        assert v.tests_passed == len(cases)
    return v.reason


# (idiom, program, cases, the status a fresh process per test gives)
STDIN_IDIOMS = [
    ("open(0).read()", "a, b = map(int, open(0).read().split())\nprint(a + b)\n", SUMS, "accepted"),
    ("for line in open(0)", "for line in open(0):\n    a, b = map(int, line.split())\n    print(a + b)\n",
     SUMS, "accepted"),
    ("open(0) closed explicitly", "f = open(0)\na, b = map(int, f.read().split())\nf.close()\nprint(a + b)\n",
     SUMS, "accepted"),
    ("sys.stdin.buffer", "import sys\na, b = map(int, sys.stdin.buffer.read().split())\n"
     "sys.stdout.buffer.write(b'%d\\n' % (a + b))\n", SUMS, "accepted"),
    ("sys.stdin.buffer.readline", "import sys\ninput = sys.stdin.buffer.readline\n"
     "a, b = map(int, input().split())\nprint(a + b)\n", SUMS, "accepted"),
    ("os.read(0, ...)", "import os\na, b = map(int, os.read(0, 1 << 16).split())\nos.write(1, b'%d\\n' % (a + b))\n",
     SUMS, "accepted"),
    ("os.close(0) after reading", "import os\ndata = os.read(0, 1 << 16)\nos.close(0)\n"
     "print(sum(map(int, data.split())))\n", SUMS, "accepted"),
    ("sys.stdin.close()", "import sys\ndata = sys.stdin.read()\nsys.stdin.close()\n"
     "print(sum(map(int, data.split())))\n", SUMS, "accepted"),
    ("sys.stdin reassigned", "import io, sys\nsys.stdin = io.TextIOWrapper(sys.stdin.buffer)\n"
     "print(sum(map(int, input().split())))\n", SUMS, "accepted"),
    ("sys.stdin = open(0)", "import sys\nsys.stdin = open(0)\ninput = sys.stdin.readline\n"
     "print(sum(map(int, input().split())))\n", SUMS, "accepted"),
    ("input() until EOFError", "tot = 0\nwhile True:\n    try:\n        line = input()\n    except EOFError:\n"
     "        break\n    tot += sum(map(int, line.split()))\nprint(tot)\n", SUMS, "accepted"),
    ("input() past EOF", "input()\ninput()\n", SUMS, "runtime_error"),
    ("os.write(1) then os.close(1)", "import os\nos.write(1, b'%d\\n' % sum(map(int, input().split())))\nos.close(1)\n",
     SUMS, "accepted"),
    ("print then os.close(1): the exit flush fails", "import os\nprint(sum(map(int, input().split())))\nos.close(1)\n",
     SUMS, "runtime_error"),
    ("sys.stdout replaced by StringIO", "import io, sys\nsys.stdout = io.StringIO()\n"
     "print(sum(map(int, input().split())))\n", SUMS, "wrong_answer"),
    ("sys.stdout = open(1, 'w')", "import sys\nsys.stdout = open(1, 'w')\nprint(sum(map(int, input().split())))\n",
     SUMS, "accepted"),
    ("sys.stdout.close() after print", "import sys\nprint(sum(map(int, input().split())))\nsys.stdout.close()\n",
     SUMS, "accepted"),
    ("a file on fd 1 left open", "out = open(1, 'w', closefd=False)\nout.write(str(sum(map(int, input().split()))))\n",
     SUMS, "accepted"),
    ("print without flush, os._exit(0)", "import os\nprint(sum(map(int, input().split())))\nos._exit(0)\n",
     SUMS, "wrong_answer"),
    ("print, flush, os._exit(0)", "import os, sys\nprint(sum(map(int, input().split())))\nsys.stdout.flush()\n"
     "os._exit(0)\n", SUMS, "accepted"),
    ("exit() mid-output", "print(sum(map(int, input().split())))\nexit()\nprint('never')\n", SUMS, "accepted"),
    ("quit() mid-output", "print(sum(map(int, input().split())))\nquit()\nprint('never')\n", SUMS, "accepted"),
    ("sys.exit(0) in main()", "import sys\ndef main():\n    print(sum(map(int, input().split())))\n    sys.exit(0)\n"
     "    print('never')\nif __name__ == '__main__':\n    main()\n", SUMS, "accepted"),
    ("sys.exit(3)", "import sys\nprint(sum(map(int, input().split())))\nsys.exit(3)\n", SUMS, "runtime_error"),
    ("sys.exit('message')", "import sys\nprint(sum(map(int, input().split())))\nsys.exit('bye')\n", SUMS,
     "runtime_error"),
    ("os._exit(1) after flush", "import os\nprint(sum(map(int, input().split())), flush=True)\nos._exit(1)\n", SUMS,
     "runtime_error"),
    ("writing to stderr", "import sys\nfor _ in range(2000):\n    print('debug', file=sys.stderr)\n"
     "sys.stderr.write('x' * 100000)\nprint(sum(map(int, input().split())))\n", SUMS, "accepted"),
    ("stderr closed, fd 2 closed", "import os, sys\nsys.stderr.close()\nos.close(2)\n"
     "print(sum(map(int, input().split())))\n", SUMS, "accepted"),
    ("atexit handler prints the answer", "import atexit\nans = sum(map(int, input().split()))\n"
     "atexit.register(lambda: print(ans))\n", SUMS, "accepted"),
    ("thread without join (the interpreter waits)", "import threading\ndef main():\n"
     "    print(sum(map(int, input().split())))\nthreading.Thread(target=main).start()\n", SUMS, "accepted"),
    ("recursion limit + thread stack size + deep recursion in a thread",
     "import sys, threading\nsys.setrecursionlimit(1 << 20)\nthreading.stack_size(1 << 27)\n"
     "def depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\n"
     "def main():\n    a, b = map(int, input().split())\n    print(depth(20000 * a) // (20000 * a) * (a + b))\n"
     "t = threading.Thread(target=main)\nt.start()\nt.join()\n", SUMS, "accepted"),
    ("deep recursion over the default limit", "def depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\n"
     "a, b = map(int, input().split())\nprint(depth(5000) + a + b - 5000)\n", SUMS, "runtime_error"),
]


@pytest.mark.parametrize(("idiom", "code", "cases", "want"), STDIN_IDIOMS, ids=[x[0] for x in STDIN_IDIOMS])
def test_stdin_idiom_matches_a_fresh_process_per_test(pool: JudgePool, idiom: str, code: str,
                                                       cases: list[tuple[str, str]], want: str) -> None:
    assert fresh_process_status(code, cases) == want, f"oracle disagrees with the table for {idiom!r}"
    assert judged(pool, code, cases) == want


# State a test leaves behind must not reach the next one: each program prints what it found, then changes
# it. A fresh process prints the same line for every test.
LEAKS = [
    ("recursion limit", "import sys\nprint(sys.getrecursionlimit())\nsys.setrecursionlimit(54321)\n"),
    ("thread stack size", "import threading\nprint(threading.stack_size())\nthreading.stack_size(1 << 26)\n"),
    ("gc disabled", "import gc\nprint(gc.isenabled())\ngc.disable()\n"),
    ("module attribute", "import math\nprint(getattr(math, 'seen', 0))\nmath.seen = 1\n"),
    ("builtins", "import builtins\nprint(hasattr(builtins, 'seen'))\nbuiltins.seen = 1\n"),
    ("atexit handlers", "import atexit\nprint(atexit._ncallbacks())\natexit.register(print, 'extra')\n"),
    ("decimal context", "import decimal\nprint(decimal.getcontext().prec)\ndecimal.getcontext().prec = 100\n"),
    ("working directory and files", "import os\nprint(os.listdir('.'))\nopen('mine', 'w').write('x')\n"
     "os.mkdir('sub')\nos.chdir('sub')\n"),
    ("environment", "import os\nprint(os.environ.get('SEEN'))\nos.environ['SEEN'] = '1'\n"),
    ("signal handlers", "import signal\nprint(signal.getsignal(signal.SIGALRM))\n"
     "signal.signal(signal.SIGALRM, lambda *a: None)\n"),
    ("fd 0 and fd 1 closed", "import os, sys\nprint(len(sys.stdin.read()) > 0)\nsys.stdout.flush()\n"
     "os.close(0)\nos.close(1)\n"),
    ("sys.stdout replaced", "import io, sys\nprint(type(sys.stdout).__name__)\nsys.stdout.flush()\n"
     "sys.stdout = io.StringIO()\n"),
]


@pytest.mark.parametrize(("what", "code"), LEAKS, ids=[x[0] for x in LEAKS])
def test_state_changed_by_one_test_does_not_reach_the_next(pool: JudgePool, what: str, code: str) -> None:
    with tempfile.TemporaryDirectory() as cwd:  # a fresh process, started in an empty directory
        first = subprocess.run([sys.executable, "-I", "-c", code], input=b"1 2\n", capture_output=True,
                               timeout=60, cwd=cwd, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}).stdout
    cases = [("1 2\n", first.decode())] * 4
    v = judge(code, stdin_tests(cases), pool=pool, all_tests=True)
    assert v.reason == "accepted", v
    assert v.tests_passed == 4


def test_daemon_started_by_one_test_is_gone_for_the_next(pool: JudgePool) -> None:
    code = textwrap.dedent("""
        import os, time
        print(len([p for p in os.listdir('/proc') if p.isdigit()]))
        if os.fork() == 0:
            os.setsid()
            time.sleep(3600)
    """)
    if not pool.layers().get("pid"):
        pytest.skip("needs the pid layer: without it the run is swept only at its end")
    v = judge(code, stdin_tests([("", "3\n")] * 4), pool=pool, all_tests=True)
    assert v.reason == "accepted", v  # init, the test runner and the test itself - no earlier daemon


# ------------------------------------------------------------------ call-based (functional) tests
def call_tests(values: list[int], out: object | None = None) -> list[dict]:
    import json

    return [{"testtype": "functional", "input": json.dumps(v), "output": json.dumps(v if out is None else out)}
            for v in values]


FUNCTIONAL_IDIOMS = [
    ("module-level state mutated by a call", "seen = []\ndef f(x):\n    seen.append(x)\n"
     "    return x if len(seen) == 1 else -1\n"),
    ("class attribute used as a cache", "class Solution:\n    memo = {}\n    def f(self, x):\n"
     "        if self.memo:\n            return -1\n        self.memo[x] = x\n        return x\n"),
    ("sys.stdout closed inside the call", "import sys\ndef f(x):\n    print('noise')\n    sys.stdout.close()\n"
     "    return x\n"),
    ("fds 0 and 1 closed inside the call", "import os\ndef f(x):\n    os.close(0)\n    os.close(1)\n    return x\n"),
    ("stdin read inside the call", "import sys\ndef f(x):\n    assert sys.stdin.read() == ''\n    return x\n"),
    ("recursion limit raised inside the call, deep recursion",
     "import sys\ndef depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\n"
     "def f(x):\n    assert sys.getrecursionlimit() < 50000\n    sys.setrecursionlimit(100000)\n"
     "    return depth(30000) - 30000 + x\n"),
    ("thread with a large stack inside the call",
     "import sys, threading\ndef depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\n"
     "def f(x):\n    assert threading.stack_size() == 0\n    sys.setrecursionlimit(1 << 20)\n"
     "    threading.stack_size(1 << 27)\n    out = []\n"
     "    t = threading.Thread(target=lambda: out.append(depth(20000)))\n    t.start()\n    t.join()\n"
     "    return out[0] - 20000 + x\n"),
    ("atexit registered inside the call", "import atexit\ndef f(x):\n    assert atexit._ncallbacks() == 0\n"
     "    atexit.register(print, 'bye')\n    return x\n"),
]


@pytest.mark.parametrize(("idiom", "code"), FUNCTIONAL_IDIOMS, ids=[x[0] for x in FUNCTIONAL_IDIOMS])
def test_functional_idiom_each_call_in_a_fresh_process(pool: JudgePool, idiom: str, code: str) -> None:
    v = judge(code, call_tests([3, 7, 11, 2]), fn_name="f", pool=pool, all_tests=True)
    assert v.reason == "accepted", v
    assert v.tests_passed == 4


def test_functional_exit_and_os_exit_inside_the_call_are_runtime_errors(pool: JudgePool) -> None:
    for body in ("exit()", "import sys; sys.exit(0)", "import os; os._exit(0)", "raise SystemExit"):
        code = f"def f(x):\n    {body}\n"
        v = judge(code, call_tests([1, 2, 3]), fn_name="f", pool=pool, all_tests=True)
        assert v.reason == "runtime_error" and v.tests_passed == 0, (body, v)
        assert v.detail and v.detail.startswith("test 0: ")


HEAVY_LOAD = "table = [i * i for i in range(300000)]\n"  # real work at load time: forked from the loaded process


@pytest.mark.parametrize("load", ["", HEAVY_LOAD], ids=["cheap load (reused process)", "heavy load (forked)"])
def test_functional_module_state_never_carries_over(pool: JudgePool, load: str) -> None:
    code = load + "seen = []\ndef f(x):\n    seen.append(x)\n    return x if len(seen) == 1 else -1\n"
    v = judge(code, call_tests(list(range(30))), fn_name="f", pool=pool, all_tests=True)
    assert v.reason == "accepted" and v.tests_passed == 30, v


def test_functional_tests_share_a_process_only_when_the_load_is_cheap(pool: JudgePool) -> None:
    """The cheap path is taken: a cheaply loaded program's tests run in one reused process, a heavy one's
    each in its own (both see a fresh module every test, above)."""
    pids: dict[str, list[int]] = {}
    for name, load in (("cheap", ""), ("heavy", HEAVY_LOAD)):
        got: list[int] = []

        def check(test: object, expected: object, value: object, got: list[int] = got) -> bool:
            got.append(int(value))  # type: ignore[call-overload]
            return True

        v = judge(load + "import os\ndef f(x):\n    return os.getpid()\n", call_tests([1, 2, 3, 4, 5]), fn_name="f",
                  pool=pool, checker=check)
        assert v.reason == "accepted", v
        pids[name] = got
    assert len(set(pids["cheap"])) == 1, pids
    assert len(set(pids["heavy"])) == 5, pids
