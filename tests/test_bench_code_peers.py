"""benchmarks/code_peers.py cannot rot: its submission builder and our side run on a handful of submissions.

The peer part (LiveCodeBench, veRL prime_code) runs only where their checkouts and side venvs exist
($ACEREASON_LCB_REPO / $ACEREASON_VERL_REPO, default /tmp/peers/...); otherwise it skips.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from acereason.verify.code import JudgePool
from benchmarks.code_peers import batch_of, run_floor, run_ours, run_peer
from benchmarks.code_peers_families import families
from benchmarks.code_peers_report import fault
from benchmarks.code_peers_set import build, check_to_calls, mutate

CHECK = '''def check(candidate):
    assert candidate(nums = [2,7,11,15], target = 9) == [0,1]
    assert candidate([3,3], 6) == (0, 1)
'''
CODE = "class Solution:\n    def twoSum(self, nums, target):\n        return [0, 1]\n"


@pytest.fixture(scope="module")
def pool() -> Iterator[JudgePool]:
    with JudgePool(2) as p:
        yield p


def test_check_asserts_become_call_tests_in_signature_order() -> None:
    inputs, outputs = check_to_calls(CHECK, CODE, "twoSum")
    assert inputs == ["[2, 7, 11, 15]\n9", "[3, 3]\n6"]
    assert outputs == ["[0, 1]", "[0, 1]"]
    helper = "def check(candidate):\n    assert candidate(head = list_node([1])) == 1\n"
    assert check_to_calls(helper, CODE.replace("nums, target", "head"), "twoSum") is None
    unordered = "def check(candidate):\n    assert sorted(candidate(nums = [1], target = 1)) == [1]\n"
    assert check_to_calls(unordered, CODE, "twoSum") is None


def test_mutation_is_seeded_and_changes_the_program() -> None:
    code = "def f(xs):\n    t = 0\n    for x in xs:\n        if x > 2:\n            t += x * 3\n    return t\n"
    a, b = mutate(code, random.Random("s")), mutate(code, random.Random("s"))
    assert a == b and a is not None
    assert a[0] != code and "->" in a[1]
    assert mutate("pass\n", random.Random(0)) is None


def test_families_are_deterministic_and_well_formed() -> None:
    first, again = list(families(3)), list(families(3))
    assert first == again
    assert len({s["id"] for s in first}) == len(first)
    for s in first:
        assert len(s["inputs"]) == len(s["outputs"]) > 0 and isinstance(s["intended"], bool)
        assert batch_of(s) == "families"
    assert {s["group"] for s in first} >= {"family:float", "family:bool_int", "family:many_tests",
                                           "family:failure", "family:idiom"}


def test_our_side_matches_the_intended_verdicts(pool: JudgePool, tmp_path: Path) -> None:
    subs = [s for s in families(0) if s["group"] in ("family:float", "family:bool_int", "family:idiom")]
    ours, seconds = run_ours(subs, pool)
    assert set(seconds) == {"families"}
    wrong = [(s["id"], ours[s["id"]]["reason"]) for s in subs if ours[s["id"]]["accepted"] != s["intended"]]
    assert wrong == []
    assert fault(subs[0], {"ours": ours[subs[0]["id"]]["accepted"]}) == "none"


def test_builder_and_our_side_on_real_references(shared_data: Path, pool: JudgePool) -> None:
    corpus, peer, _ = build(shared_data, seed=0, limit=2, groups={"references", "variants"})
    groups = {s["group"] for s in corpus}
    assert groups == {"apps", "synthetic_verify", "deepcoder_lc_train", "deepcoder_lc_test", "leetcodedataset"}
    assert any(s["native"] for s in corpus) and all(s["intended"] for s in corpus)
    assert {batch_of(s) for s in peer} == {"references", "variants"}
    native, _ = run_ours(corpus, pool, native=True)
    assert [i for i, v in native.items() if not v["accepted"]] == []
    ours, _ = run_ours([s for s in peer if batch_of(s) == "references"], pool)
    assert all(v["accepted"] for v in ours.values())


PEERS = {"lcb": (os.environ.get("ACEREASON_LCB_REPO", "/tmp/peers/LiveCodeBench"),
                 os.environ.get("ACEREASON_LCB_PYTHON", "/tmp/peers/venv/bin/python")),
         "prime": (os.environ.get("ACEREASON_VERL_REPO", "/tmp/peers/verl"),
                   os.environ.get("ACEREASON_PRIME_PYTHON", "/tmp/peers/venv310/bin/python"))}


@pytest.mark.parametrize("peer", sorted(PEERS))
def test_peer_harness_runs_when_present(peer: str) -> None:
    repo, python = PEERS[peer]
    if not (Path(repo).is_dir() and Path(python).exists()):
        pytest.skip(f"{peer} checkout or side venv absent ({repo}, {python})")
    subs = [s for s in families(0) if s["id"] in ("family:idiom/stdin_read", "family:failure/raise_after_partial")]
    result = run_peer(peer, python, Path(repo), subs, workers=2)
    assert result["verdicts"] == {"family:idiom/stdin_read": True, "family:failure/raise_after_partial": False}
    assert json.dumps(result["seconds"])


def test_floor_gives_the_intended_verdicts_and_times_each_part() -> None:
    """The no-isolation floor is a yardstick: it must run the same programs to the same verdicts (stdin and
    call-based, idioms that touch fd 0/1, exits, exceptions, a syntax error); no loop here, it would cost 6 s."""
    keep = ("family:float", "family:bool_int", "family:idiom")
    subs = [s for s in families(0) if s["group"] in keep]
    failures = ("exit_after_full", "call_raises", "raise_after_partial", "syntax_error", "exit1_after_full")
    subs += [s for s in families(0) if s["id"] in {f"family:failure/{f}" for f in failures}]
    result = run_floor(subs, workers=2, heavy={subs[0]["id"]})
    assert {s["id"]: result["verdicts"][s["id"]] for s in subs} == {s["id"]: s["intended"] for s in subs}
    assert set(result["seconds"]) == {"families/heavy", "families/quick"}
    assert all(v > 0 for v in result["seconds"].values())
