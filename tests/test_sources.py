"""Readers on small hand-written fixtures in each real layout (no shared data needed)."""

from __future__ import annotations

import base64
import gzip
import json
import pickle
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from acereason.schema import DataError
from acereason.sources import READERS, detect_format, read_source
from acereason.sources.code_common import fn_name_from_starter, split_check_call
from acereason.sources.common import clean_answer, last_boxed, repair_escapes
from acereason.sources.lcb import decode_private_tests, safe_unpickle
from acereason.sources.leetcode import assert_script_to_check


def load(path: Path, fmt: str | None = None) -> list:
    return list(read_source(path, fmt))


def test_math_jsonl_float_answers_and_escape_repair(fixtures: Path) -> None:
    path = fixtures / "sources" / "amc_floats.jsonl"
    assert detect_format(path) == "math_jsonl"
    a, b = load(path)
    assert a.answer == "27" and b.answer == "1.5"
    assert "\\frac{1}{2}" in b.prompt and "\\triangle ABC" in b.prompt
    assert not any(ord(c) < 32 for c in b.prompt)
    # ids are row-based because native ids repeat (both rows have id 0); the native id stays in meta
    assert a.id != b.id and a.meta["id"] == 0
    assert "question" not in a.meta  # a duplicate of `problem`, not kept twice


def test_question_field_variant(fixtures: Path) -> None:
    a, b = load(fixtures / "sources" / "aimo_question.jsonl")
    assert a.prompt == "Find $P(0) + Q(0).$" and a.answer == "116" and b.answer == "2"


def test_deepscaler_array(fixtures: Path) -> None:
    path = fixtures / "sources" / "deepscaler_like.json"
    assert detect_format(path) == "deepscaler"
    ps = load(path)
    assert [p.answer for p in ps] == ["2", "9.6", "1, 2", "142", None]
    assert ps[0].meta["source_difficulty"] == 1.0 and ps[0].difficulty is None
    assert ps[4].meta["answer_from"] == "none"


def test_numina_boxed_fallback(fixtures: Path) -> None:
    path = fixtures / "sources" / "numina.jsonl"
    assert detect_format(path) == "numina"
    a, b = load(path)
    assert a.answer == "\\dfrac{4}{2}" and a.meta["answer_from"] == "solution_boxed" and a.source == "olympiads"
    assert b.answer is None


@pytest.mark.parametrize("text,expected", [
    ("\\boxed{1}", "1"), ("a \\boxed{\\frac{1}{2}} b \\fbox{x^{2}}", "x^{2}"), ("\\boxed{unbalanced", None),
    ("no box", None), ("\\boxed {\\{1,2\\}}", "\\{1,2\\}"),
])
def test_last_boxed(text: str, expected: str | None) -> None:
    assert last_boxed(text) == expected


@pytest.mark.parametrize("value,expected", [
    (27.0, "27"), (-3.0, "-3"), (2.5, "2.5"), ("142.0", "142"), (" 7 ", "7"), (["9.6\n"], "9.6"), (5, "5"),
    ("3.10", "3.10"), ("025", "025"),
])
def test_clean_answer(value, expected) -> None:
    assert clean_answer(value) == expected


def test_repair_escapes_is_targeted() -> None:
    assert repair_escapes("\x0crac{1}{2}") == "\\frac{1}{2}"
    assert repair_escapes("\times 3") == "\\times 3"
    assert repair_escapes("a\tb") == "a\tb"  # a real tab followed by ordinary text is left alone
    assert repair_escapes("\right)") == "\\right)"
    assert repair_escapes("line\nnext") == "line\nnext"


def test_lcb_deepcoder(fixtures: Path) -> None:
    path = fixtures / "sources" / "lcb_deepcoder.json"
    assert detect_format(path) == "lcb_deepcoder"
    a, b = load(path)
    assert a.tests[0].testtype == "stdin" and a.fn_name is None and a.starter_code is None
    assert b.fn_name == "countSeniors" and b.tests[0].testtype == "functional"


def test_contest_layouts(fixtures: Path) -> None:
    d = fixtures / "sources"
    assert detect_format(d / "codecontests.json") == "codecontests"
    assert detect_format(d / "codeforces.json") == "codeforces"
    assert detect_format(d / "synthetic1.json") == "primeintellect"
    (cc,) = load(d / "codecontests.json")
    assert [(t.input, t.output) for t in cc.tests] == [("5\n", "5\n"), ("7\n", "7\n")]
    (cf,) = load(d / "codeforces.json")
    assert cf.tests[0].output == "1 9"
    (s1,) = load(d / "synthetic1.json")
    assert s1.tests[0].input == "4\n" and s1.meta["solutions"]


def test_leetcode_check(fixtures: Path) -> None:
    path = fixtures / "sources" / "leetcode_check.json"
    assert detect_format(path) == "leetcode_check"
    (p,) = load(path)
    assert p.fn_name == "minOperations" and p.tests[0].testtype == "check"
    assert "check(Solution()" not in p.tests[0].input and p.tests[0].input.startswith("def check(candidate)")
    assert p.prompt == "Return the minimum number of operations." and "def minOperations" in p.starter_code
    ns: dict = {}
    exec(p.tests[0].input, ns)  # the check source is valid Python that defines check()
    ns["check"](lambda nums, k: 4)


def test_prime_leetcode_assert_rewrite(fixtures: Path) -> None:
    path = fixtures / "sources" / "prime_leetcode.jsonl"
    assert detect_format(path) == "prime_leetcode"
    (p,) = load(path)
    assert p.fn_name == "doubleIt" and p.prompt == "Double a linked list number."
    src = p.tests[0].input
    assert "my_solution" not in src

    class ListNode:
        def __init__(self, val=0, next=None):
            self.val, self.next = val, next

    def double_it(head):
        vals = []
        while head:
            vals.append(head.val)
            head = head.next
        digits = [int(c) for c in str(2 * int("".join(map(str, vals))))]
        node = None
        for d in reversed(digits):
            node = ListNode(d, node)
        return node

    ns: dict = {"ListNode": ListNode}
    exec(src, ns)
    ns["check"](double_it)
    with pytest.raises(AssertionError):
        ns["check"](lambda head: head)


def test_assert_script_keeps_helpers() -> None:
    src, name = assert_script_to_check("my_solution = Solution()\nx = 1\nassert my_solution.f(x) == 2\n")
    assert name == "f" and "candidate(x)" in src
    ns: dict = {}
    exec(src, ns)
    ns["check"](lambda x: x + 1)


def test_taco_table_and_apps_unwrap(fixtures: Path) -> None:
    path = fixtures / "sources" / "taco.jsonl"
    assert detect_format(path) == "taco"
    a, b, c = load(path)
    assert a.fn_name == "is_prime" and a.meta["apps_outputs_unwrapped"] is True
    assert [t.output for t in a.tests] == ["false", "true", "true"] and a.tests[0].input == "1"
    assert b.fn_name == "findKthPositive" and b.tests[0].input == "[2, 3, 4, 7, 11]\n5" and b.tests[0].output == "9"
    assert "apps_outputs_unwrapped" not in b.meta
    assert c.fn_name is None and c.tests[0].testtype == "stdin" and c.source == "atcoder"


def test_apps_directory(tmp_path: Path) -> None:
    for name, io in [("0001", {"inputs": ["1\n"], "outputs": ["2\n"]}),
                     ("0002", {"fn_name": "f", "inputs": [[1, 2]], "outputs": [[3]]})]:
        d = tmp_path / "train" / name
        d.mkdir(parents=True)
        (d / "question.txt").write_text(f"Problem {name}")
        (d / "input_output.json").write_text(json.dumps(io))
        (d / "metadata.json").write_text(json.dumps({"difficulty": "interview", "url": "u"}))
        (d / "solutions.json").write_text(json.dumps(["print(2)"]))
    assert detect_format(tmp_path / "train") == "apps_dir"
    a, b = load(tmp_path / "train")
    assert a.id == "apps-train-0001" and a.source == "apps/train" and a.meta["difficulty"] == "interview"
    assert b.fn_name == "f" and b.tests[0].input == "1\n2" and b.tests[0].output == "3"
    # one problem directory on its own also reads
    (single,) = load(tmp_path / "train" / "0001")
    assert single.prompt == "Problem 0001"


def _verl_table(path: Path, rows: list[dict]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def test_verl_math_strips_template_and_instruction(tmp_path: Path) -> None:
    rows = [
        {"data_source": "", "prompt": [{"role": "user", "content": "What is 2+2? Let's think step by step and "
                                        "output the final answer within \\boxed{}."}], "ability": "math",
         "reward_model": {"ground_truth": "4", "style": "rule"}, "extra_info": {"index": 7, "split": "test"}},
        {"data_source": "simplelr", "prompt": [{"role": "user", "content": "<|im_start|>system\nYou are helpful."
                                                "<|im_end|>\n<|im_start|>user\nWhat is 3+3?\nPlease reason step by "
                                                "step, and put your final answer within \\boxed{{}}.<|im_end|>\n"
                                                "<|im_start|>assistant\n"}], "ability": "math",
         "reward_model": {"ground_truth": "6", "style": "rule"}, "extra_info": {"index": 8, "split": "test"}},
    ]
    path = _verl_table(tmp_path / "m.parquet", rows)
    assert detect_format(path) == "verl"
    a, b = load(path)
    assert (a.prompt, a.answer, a.id) == ("What is 2+2?", "4", "m-7")  # the file's name, not its directory
    assert a.meta["instruction"].startswith("Let's think")
    assert (b.prompt, b.answer, b.source) == ("What is 3+3?", "6", "simplelr")


def test_verl_code_tests_from_ground_truth(tmp_path: Path) -> None:
    tests = json.dumps([{"input": "\"ab\"", "output": "2", "testtype": "functional"}])
    content = ("You are an expert Python programmer. You will be given a question (problem specification) and will "
               "generate a correct Python program that matches the specification and passes all tests.\nCount it."
               "### Format: You will use the following starter code.\n```python\nclass Solution:\n    def count("
               "self, s: str) -> int:\n        \n```\n\n```python\n# YOUR CODE HERE\n```\n\n### Answer: (use the "
               "provided format with backticks)\n\n")
    rows = [{"data_source": "livecodebench", "prompt": [{"role": "user", "content": content}], "ability": "code",
             "reward_model": {"ground_truth": json.dumps({"tests": tests}), "style": "rule"},
             "extra_info": {"index": 0, "split": "test"}}]
    (p,) = load(_verl_table(tmp_path / "c.parquet", rows))
    assert p.domain == "code" and p.prompt == "Count it." and p.fn_name == "count"
    assert p.tests[0].input == "\"ab\"" and "def count" in p.starter_code


def _lcb_blob(tests: list[dict]) -> str:
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()


def test_lcb_raw_private_tests(tmp_path: Path) -> None:
    private = [{"input": "\"10\"", "output": "1", "testtype": "functional"}] * 3
    row = {"question_title": "t", "question_content": "Make it special.", "platform": "leetcode",
           "question_id": "3046", "contest_id": "weekly-contest-361", "contest_date": "2023-09-03T00:00:00",
           "starter_code": "class Solution:\n    def minimumOperations(self, num: str) -> int:\n        ",
           "difficulty": "medium", "public_test_cases": json.dumps([{"input": "\"2245047\"", "output": "2",
                                                                     "testtype": "functional"}]),
           "private_test_cases": _lcb_blob(private), "metadata": json.dumps({"func_name": "minimumOperations"})}
    path = tmp_path / "lcb.jsonl"
    path.write_text(json.dumps(row) + "\n")
    assert detect_format(path) == "lcb_raw"
    (p,) = load(path)
    assert len(p.tests) == 4 and p.fn_name == "minimumOperations" and p.id == "lcb-3046"
    assert p.meta["contest_date"] == "2023-09-03T00:00:00" and p.meta["private_tests"] == 3


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /tmp/acereason_pwned",))


def test_restricted_unpickler_refuses_globals(tmp_path: Path) -> None:
    blob = base64.b64encode(zlib.compress(pickle.dumps(_Evil()))).decode()
    with pytest.raises(pickle.UnpicklingError):
        decode_private_tests(blob)
    assert safe_unpickle(pickle.dumps({"a": [1, 2.5, "x", None, (True,)]})) == {"a": [1, 2.5, "x", None, (True,)]}
    row = {"question_content": "q", "public_test_cases": "[]", "private_test_cases": blob, "metadata": "{}"}
    path = tmp_path / "evil.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(DataError, match=r"evil.jsonl:1: field 'private_test_cases'"):
        load(path)
    assert not Path("/tmp/acereason_pwned").exists()


def test_leetcodedataset_gzip(tmp_path: Path) -> None:
    row = {"task_id": "two-sum", "question_id": 1, "difficulty": "Easy", "tags": ["Array"],
           "problem_description": "Find two indices.", "starter_code": "class Solution:\n    def twoSum(self, nums,"
           " target):\n        ", "estimated_date": "2024-08-04", "prompt": "from typing import *\n",
           "completion": "class Solution: ...", "entry_point": "Solution().twoSum",
           "test": "def check(candidate):\n    assert candidate(nums=[2,7], target=9) == [0, 1]\n",
           "input_output": [{"input": "nums = [2,7], target = 9", "output": "[0, 1]"}], "query": "q", "response": "r"}
    path = tmp_path / "lcd.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(json.dumps(row) + "\n")
    assert detect_format(path) == "leetcodedataset"
    (p,) = load(path)
    assert p.fn_name == "twoSum" and p.meta["prelude"] == "from typing import *\n"
    assert p.meta["estimated_date"] == "2024-08-04" and p.id == "leetcodedataset-two-sum"


def test_humaneval_from_package() -> None:
    ps = load(Path("humaneval"))
    assert len(ps) == 164 and ps[0].id == "HumanEval/0" and ps[0].fn_name == "has_close_elements"
    assert ps[0].tests[0].testtype == "check" and "def check(candidate)" in ps[0].tests[0].input
    assert ps[0].meta["canonical_solution"].startswith(ps[0].prompt)


@pytest.mark.parametrize("starter,name", [
    ("class Solution:\n    def twoSum(self, nums):\n        ", "twoSum"),
    ("# class TreeNode:\n#     def __init__(self, x):\nclass Solution:\n    def __init__(self):\n        pass\n"
     "    def maxDepth(self, root):\n", "maxDepth"),
    ("def is_prime(n):\n\t", "is_prime"),
    ("", None), (None, None),
])
def test_fn_name_from_starter(starter, name) -> None:
    assert fn_name_from_starter(starter) == name


def test_split_check_call() -> None:
    src, name = split_check_call("def check(candidate):\n    assert candidate(1)\n\n\ncheck(Solution().foo)\n\n")
    assert name == "foo" and src.endswith("assert candidate(1)\n")
    assert split_check_call("def check(c):\n    pass\n") == ("def check(c):\n    pass\n", None)


def test_every_reader_is_documented() -> None:
    for r in READERS.values():
        assert r.description and r.read.__doc__, r.name


def test_unknown_format_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "weird.jsonl"
    path.write_text(json.dumps({"foo": 1}) + "\n")
    with pytest.raises(DataError, match=r"weird\.jsonl: unknown format"):
        detect_format(path)


# -- ids and sources come from the file's name, never from how its path is spelled -------------------

@pytest.mark.parametrize("name", ["amc_floats.jsonl", "deepscaler_like.json", "codeforces.json", "taco.jsonl",
                                  "lcb_deepcoder.json", "leetcode_check.json", "prime_leetcode.jsonl",
                                  "numina.jsonl", "synthetic1.json"])
def test_ids_and_sources_do_not_depend_on_path_spelling(fixtures: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    target = tmp_path / "data" / "sub" / name
    target.write_bytes((fixtures / "sources" / name).read_bytes())
    monkeypatch.chdir(tmp_path / "data")
    spellings = [target, Path("sub") / name, Path("sub/../sub") / name, Path("./sub//") / name]
    seen = [[(p.id, p.source) for p in load(s)] for s in spellings]
    monkeypatch.chdir(tmp_path / "elsewhere")
    seen.append([(p.id, p.source) for p in load(Path("../data/sub") / name)])
    assert all(s == seen[0] for s in seen)
    stem = name.split(".")[0]
    assert all(pid.startswith(f"{stem}-") and "sub" not in pid and "data" not in pid for pid, _ in seen[0])


def test_file_tag_is_the_name_without_storage_suffixes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from acereason.sources.naming import file_tag

    assert file_tag("/x/math500/test.jsonl") == file_tag("test.jsonl") == "test"
    assert file_tag("a/b/../LeetCodeDataset-v0.3.1-test.jsonl.gz") == "LeetCodeDataset-v0.3.1-test"
    assert file_tag("x/aime.json.gz") == file_tag("aime.parquet") == "aime"
    assert file_tag("odd name!.json") == "odd-name-"
    monkeypatch.chdir(tmp_path)
    assert file_tag(".") == file_tag(tmp_path) == tmp_path.name  # a directory is named by its own name


def test_apps_ids_do_not_depend_on_path_spelling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "train" / "0001"
    d.mkdir(parents=True)
    (d / "question.txt").write_text("Problem")
    (d / "input_output.json").write_text(json.dumps({"inputs": ["1\n"], "outputs": ["2\n"]}))
    monkeypatch.chdir(d)
    ids = {(p.id, p.source) for s in (Path(".."), Path("."), Path("../0001"), tmp_path / "train")
           for p in load(s)}
    assert ids == {("apps-train-0001", "apps/train")}


def test_inputs_sharing_a_name_get_distinct_tags_whatever_the_order_or_spelling(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from acereason.sources.naming import distinct_tags

    files = ["math500/test.jsonl", "aime24/test.jsonl", "a/x/t.json", "b/x/t.json", "c/t.jsonl", "c/t.json",
             "solo.parquet"]
    for f in files:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("")
    monkeypatch.chdir(tmp_path)
    want = ["math500_test", "aime24_test", "a_x_t", "b_x_t", "c_t.jsonl", "c_t.json", "solo"]
    assert distinct_tags(files) == want
    assert distinct_tags([tmp_path / f for f in reversed(files)]) == want[::-1]
    monkeypatch.chdir(tmp_path / "a")
    assert distinct_tags(["../math500/./test.jsonl", "x/../../aime24/test.jsonl"]) == want[:2]
    with pytest.raises(DataError, match=r"given twice \(also as \.\./solo\.parquet\)"):
        distinct_tags(["../solo.parquet", "../a/../solo.parquet"])


# -- answers: numbers keep their text, non-answers are type errors naming the field ---------------------

def _math_file(tmp_path: Path, answer_json: str, name: str = "m.jsonl") -> Path:
    path = tmp_path / name
    path.write_text('{"problem": "p0", "answer": "1"}\n{"problem": "p1", "answer": ' + answer_json + "}\n")
    return path


@pytest.mark.parametrize("text,expected", [
    ("5", "5"), ("0.5", "0.5"), ("0.50", "0.50"), ("0.1", "0.1"), ("27.0", "27"), ("-3.00", "-3"),
    ("3.14159265358979323846", "3.14159265358979323846"), ("1e-3", "0.001"), ("1E+20", "100000000000000000000"),
    ("2.5e-1", "0.25"), ("1e-60", "1e-60"), ('["1e-3", 2.50]', "1e-3, 2.50"),
])
def test_numeric_answers_keep_the_source_digits_in_plain_decimal(tmp_path: Path, text: str, expected: str) -> None:
    _, p = load(_math_file(tmp_path, text), "math_jsonl")
    assert p.answer == expected


@pytest.mark.parametrize("text,field,got", [
    ("true", "answer", "boolean"), ('{"x": 1}', "answer", "object"), ("[1, false]", "answer.1", "boolean"),
    ("[[1]]", "answer.0", "list"), ("NaN", "answer", "finite number"),
])
def test_non_scalar_answer_is_a_type_error_naming_the_field(tmp_path: Path, text: str, field: str,
                                                            got: str) -> None:
    path = _math_file(tmp_path, text)
    with pytest.raises(DataError) as info:
        load(path, "math_jsonl")
    assert str(info.value).startswith(f"{path}:2: field '{field}': expected") and got in str(info.value)


def test_verl_boolean_ground_truth_is_a_type_error(tmp_path: Path) -> None:
    row = {"data_source": "s", "prompt": [{"role": "user", "content": "q"}], "ability": "math",
           "reward_model": {"ground_truth": True, "style": "rule"}, "extra_info": {"index": 0}}
    path = _verl_table(tmp_path / "v.parquet", [row])
    with pytest.raises(DataError, match=r"v.parquet:1: field 'reward_model.ground_truth': expected .* boolean"):
        load(path)


@pytest.mark.parametrize("first", [False, True])
@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_list_problem_is_a_wrong_type_not_missing(tmp_path: Path, first: bool, suffix: str) -> None:
    rows = [{"problem": "ok", "answer": "1"}, {"problem": ["a list"], "answer": "2"}]
    rows = rows[::-1] if first else rows
    path = tmp_path / f"p{suffix}"
    path.write_text(json.dumps(rows) if suffix == ".json" else "".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError) as info:
        load(path)  # detection works on keys, so a bad first record is reported, not "unknown format"
    assert str(info.value) == f"{path}:{1 if first else 2}: field 'problem': expected a string, got list"


# -- detection: precise reasons instead of "unknown format" ---------------------------------------------

@pytest.mark.parametrize("name,content,message", [
    ("e.jsonl", b"", "e.jsonl: empty file"),
    ("e.json", b"  \n", "e.json: no records"),
    ("t.json", b'[{"problem": "a", "answer": "1"},\n {"problem": "b", "ans', "t.json: invalid JSON at line 2 col 19: "
     "Unterminated string (truncated?)"),
    ("t2.json", b'[{"problem": "a", "answer": "1"},\n', "t2.json: invalid JSON at line 2 col 1: Expecting value "
     "(truncated?)"),
    ("f.jsonl.gz", b'{"problem": "a", "answer": "1"}\n', "f.jsonl.gz: not a gzip file"),
    ("z.jsonl.gz", gzip.compress(b'{"problem": "a", "answer": "1"}\n' * 50)[:-30], "z.jsonl.gz: truncated gzip"),
    ("g.jsonl", gzip.compress(b'{"problem": "a", "answer": "1"}\n'), "g.jsonl: not UTF-8 text (the content is gzip"),
    ("l.jsonl", b"[1, 2]\n", "l.jsonl: unknown format: the first record is list, not a JSON object"),
    ("k.jsonl", b'{"hello": 1}\n', "k.jsonl: unknown format: no reader knows the first record's fields (hello)"),
])
def test_detection_failures_say_why(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        load(path)
    assert str(info.value).startswith(f"{tmp_path}/{message}"), str(info.value)


def test_null_answer_in_first_record_does_not_hide_the_format(tmp_path: Path) -> None:
    path = tmp_path / "n.jsonl"
    path.write_text('{"problem": "a", "answer": null}\n{"problem": "b", "answer": "2"}\n')
    assert detect_format(path) == "math_jsonl"
    a, b = load(path)
    assert (a.answer, a.meta["answer_from"], b.answer) == (None, "none", "2")
