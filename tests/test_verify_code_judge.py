"""The judge end to end: the three test types, every status, partial credit, comparison rules."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import pytest

from acereason.schema import TestCase
from acereason.verify.code import STATUSES, JudgePool, judge, judge_batch, judge_response


@pytest.fixture(scope="module")
def pool() -> Iterator[JudgePool]:
    with JudgePool(2) as p:
        yield p


def stdin(inp: str, out: str) -> dict:
    return {"testtype": "stdin", "input": inp, "output": out}


def call(args: list[str], out: str) -> dict:
    return {"testtype": "functional", "input": "\n".join(args), "output": out}


def check(src: str) -> dict:
    return {"testtype": "check", "input": textwrap.dedent(src)}


ADD = "a, b = map(int, input().split())\nprint(a + b)\n"


def test_stdin_program_runs_each_test(pool: JudgePool) -> None:
    tests = [stdin(f"{i} {i}\n", f"{2 * i}\n") for i in range(20)]
    v = judge(ADD, tests, pool=pool)
    assert v.correct and v.reason == "accepted" and (v.tests_passed, v.tests_total) == (20, 20)
    assert v.extracted == ADD and v.wall_s is not None and v.wall_s > 0


def test_stdin_real_fds_buffer_and_big_ints(pool: JudgePool) -> None:
    code = ("import sys\ndata = sys.stdin.buffer.read().split()\n"
            "sys.stdout.buffer.write(str(int(data[0]) ** 3000).encode() + b'\\n')\n")
    import sys

    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        want = str(7 ** 3000)
    finally:
        sys.set_int_max_str_digits(old)
    assert judge(code, [stdin("7\n", want)], pool=pool).correct
    assert judge("print(open(0).read().count('x'))", [stdin("xx x", "3")], pool=pool).correct
    assert judge("import os\nos.write(1, b'5\\n')", [stdin("", "5")], pool=pool).correct


def test_stdin_main_guard_and_exit_zero(pool: JudgePool) -> None:
    code = "import sys\ndef main():\n    print(input())\n    sys.exit(0)\nif __name__ == '__main__':\n    main()\n"
    assert judge(code, [stdin("hi\n", "hi"), stdin("yo\n", "yo")], pool=pool).correct
    v = judge("import sys\nprint(1)\nsys.exit(3)", [stdin("", "1")], pool=pool)
    assert v.reason == "runtime_error"


def test_functional_plain_function_and_solution_class(pool: JudgePool) -> None:
    tests = [call(["[1, 2, 3]", "2"], "[3, 4, 5]"), call(["[]", "0"], "[]")]
    plain = "def add_all(xs, k):\n    return [x + k for x in xs]\n"
    klass = ("class Solution:\n    def add_all(self, xs: List[int], k: int) -> List[int]:\n"
             "        return [x + k for x in xs]\n")
    assert judge(plain, tests, fn_name="add_all", pool=pool).correct
    assert judge(klass, tests, fn_name="add_all", pool=pool).correct
    assert judge("def add_all(xs, k):\n    return tuple(x + k for x in xs)", tests, fn_name="add_all",
                 pool=pool).correct  # a tuple result equals a JSON list
    v = judge(plain, tests, fn_name="missing", pool=pool)
    assert v.reason == "runtime_error" and "not found" in (v.detail or "")


def test_functional_floats_and_strict_types(pool: JudgePool) -> None:
    assert judge("def f():\n    return 1/3", [call([], "0.3333333")], fn_name="f", pool=pool).correct
    assert not judge("def f():\n    return True", [call([], "1")], fn_name="f", pool=pool).correct
    assert not judge("def f():\n    return '3'", [call([], "3")], fn_name="f", pool=pool).correct


def test_check_tests_humaneval_style_with_program_helpers(pool: JudgePool) -> None:
    code = "def encode(s):\n    return s[::-1]\n\ndef decode(s):\n    return s[::-1]\n"
    src = """
    def check(candidate):
        import random
        for _ in range(20):
            s = ''.join(random.choice('abc') for _ in range(5))
            assert candidate(encode(s)) == s
    """
    assert judge(code, [check(src)], fn_name="decode", pool=pool).correct
    assert not judge(code.replace("s[::-1]\n\ndef decode", "s\n\ndef decode"), [check(src)], fn_name="decode",
                     pool=pool).correct


def test_check_tests_leetcode_style_nodes_kwargs_and_trailing_call(pool: JudgePool) -> None:
    code = textwrap.dedent("""
        class Solution:
            def reverseList(self, head: Optional[ListNode]) -> Optional[ListNode]:
                prev = None
                while head:
                    head.next, prev, head = prev, head, head.next
                return prev
            def maxDepth(self, root: Optional[TreeNode]) -> int:
                return 0 if root is None else 1 + max(self.maxDepth(root.left), self.maxDepth(root.right))
    """)
    rev = """
    def check(candidate):
        assert is_same_list(candidate(head=list_node([1, 2, 3])), list_node([3, 2, 1]))
        assert candidate(head=None) is None
        assert is_same_list(candidate(list_node(range(5000))), list_node(range(4999, -1, -1)))

    check(Solution().reverseList)
    """
    depth = """
    def check(candidate):
        assert candidate(root=tree_node([3, 9, 20, None, None, 15, 7])) == 3
    """
    assert judge(code, [check(rev)], pool=pool).correct
    assert judge(code, [check(depth)], fn_name="maxDepth", pool=pool).correct
    assert judge(code, [check(depth)], fn_name="Solution().maxDepth", pool=pool).correct


def test_check_expected_exception_crosses(pool: JudgePool) -> None:
    src = """
    def check(candidate):
        try:
            candidate(-1)
        except ValueError:
            pass
        else:
            raise AssertionError("no ValueError")
        assert candidate(4) == 2
    """
    code = "def root(x):\n    if x < 0:\n        raise ValueError('negative')\n    return int(x ** 0.5)\n"
    assert judge(code, [check(src)], fn_name="root", pool=pool).correct


def test_all_statuses_reachable(pool: JudgePool) -> None:
    seen = {
        judge("print(3)", [stdin("", "3")], pool=pool).reason,
        judge("print(4)", [stdin("", "3")], pool=pool).reason,
        judge("while True: pass", [stdin("", "3")], time_limit_s=0.5, pool=pool).reason,
        judge("x = bytearray(10 ** 10)", [stdin("", "3")], memory_mb=256, pool=pool).reason,
        judge("print(1 // 0)", [stdin("", "3")], pool=pool).reason,
        judge("def f(:\n", [stdin("", "3")], pool=pool).reason,
        judge_response("I think the answer is print(3).", [stdin("", "3")], pool=pool).reason,
        judge("print(3)", [call(["1"], "1")], pool=pool).reason,  # functional without fn_name
    }
    assert seen == set(STATUSES)
    closed = JudgePool(1)
    closed.close()
    v = judge("print(3)", [stdin("", "3")], pool=closed)
    assert v.reason == "sandbox_error" and not v.correct


def test_first_failure_stops_unless_all_tests(pool: JudgePool) -> None:
    code = "x = int(input())\nprint(x if x != 2 else -1)\n"
    tests = [stdin(f"{i}\n", f"{i}\n") for i in range(6)]
    first = judge(code, tests, pool=pool)
    assert first.reason == "wrong_answer" and first.tests_passed == 2 and first.tests_total == 6
    assert "test 2" in (first.detail or "")
    full = judge(code, tests, all_tests=True, pool=pool)
    assert full.reason == "wrong_answer" and full.tests_passed == 5
    checks = [check("def check(c):\n    assert c() == 1\n"), check("def check(c):\n    assert c() == 2\n"),
              check("def check(c):\n    assert c() + 1 == 2\n")]
    part = judge("def f():\n    return 1", checks, fn_name="f", all_tests=True, pool=pool)
    assert (part.reason, part.tests_passed) == ("wrong_answer", 2)


def test_time_limit_is_per_test(pool: JudgePool) -> None:
    code = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3:\n    pass\nprint(1)\n"
    v = judge(code, [stdin("", "1")] * 4, time_limit_s=0.6, pool=pool)
    assert v.correct  # 1.2 s in total, 0.3 s per test
    slow = judge(code.replace("0.3", "2.0"), [stdin("", "1")], time_limit_s=0.5, pool=pool)
    assert slow.reason == "time_limit"


def test_custom_checker_hook(pool: JudgePool) -> None:
    def any_permutation(test: TestCase, expected: object, got: object) -> bool:
        return sorted(str(got).split()) == sorted(str(expected).split())

    assert judge("print(2, 1, 3)", [stdin("", "1 2 3")], checker=any_permutation, pool=pool).correct
    assert not judge("print(2, 1, 3)", [stdin("", "1 2 3")], pool=pool).correct


def test_prelude_imports_available(pool: JudgePool) -> None:
    code = ("def f(xs: List[int]) -> int:\n    h = []\n    for x in xs:\n        heappush(h, x)\n"
            "    return heappop(h) + bisect_left([1, 3], 2) + len(Counter(xs)) + gcd(4, 6) + int(inf > 0)\n")
    assert judge(code, [call(["[5, 3, 5]"], "9")], fn_name="f", pool=pool).correct


def test_judge_batch_keeps_order_and_accepts_responses(pool: JudgePool) -> None:
    items = [{"code": f"print({i})", "tests": [stdin("", str(i if i % 3 else -1))]} for i in range(9)]
    items.append({"response": "<think>hmm</think>\n```python\nprint(7)\n```", "tests": [stdin("", "7")]})
    got = [v.correct for v in judge_batch(items, pool=pool)]
    assert got == [False, True, True, False, True, True, False, True, True, True]


def test_tests_as_testcase_objects_and_bad_tests(pool: JudgePool) -> None:
    assert judge("print(3)", [TestCase(testtype="stdin", input="", output="3")], pool=pool).correct
    v = judge("print(3)", [{"testtype": "nope", "input": ""}], pool=pool)
    assert v.reason == "sandbox_error"
    assert judge("print(3)", [], pool=pool).reason == "sandbox_error"
    bad_check = judge("def f(): return 1", [check("def check(c:\n")], fn_name="f", pool=pool)
    assert bad_check.reason == "sandbox_error"
    nameless = judge("def f(): return 1", [check("def check(c):\n    assert c() == 1\n")], pool=pool)
    assert nameless.reason == "sandbox_error" and "fn_name" in (nameless.detail or "")
    assert judge("def f(): return 1", [check("def check(c):\n    assert c() == 1\ncheck(f)\n")], pool=pool).correct


def test_pool_used_after_fork_starts_its_own_workers(pool: JudgePool) -> None:
    import os

    assert judge("print(1)", [stdin("", "1")], pool=pool).correct
    pid = os.fork()
    if pid == 0:  # the child must not drive the parent's workers
        code = 1
        try:
            ok = judge("print(2)", [stdin("", "2")], pool=pool).correct
            pool.close()
            code = 0 if ok else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert judge("print(3)", [stdin("", "3")], pool=pool).correct  # the parent's workers are intact
