"""Exclusion rules: each fires on what it names and leaves ordinary problems alone."""

from __future__ import annotations

from datetime import date

import pytest

from acereason.curate.rules_code import (
    DateCutoffRule,
    ImageRule,
    InteractiveRule,
    MissingTestsRule,
    MultipleValidOutputsRule,
    PlatformTemplateRule,
    SpecialJudgeRule,
    problem_date,
)
from acereason.curate.rules_math import (
    ComplexAnswerRule,
    FigureRule,
    MultiPartRule,
    MultipleChoiceRule,
    NonEnglishRule,
    ProofRule,
    TooShortRule,
    TrueFalseRule,
    math_rules,
)
from acereason.schema import Problem, TestCase


def math(prompt: str, answer: str | None = "7") -> Problem:
    return Problem(id="m", domain="math", prompt=prompt, answer=answer, source="t")


def code(prompt: str, tests: list[TestCase] | None = None, **meta: object) -> Problem:
    tests = tests or [TestCase(testtype="stdin", input="1\n", output="2\n")]
    return Problem(id="c", domain="code", prompt=prompt, source="t", tests=tests, meta=dict(meta))


ORDINARY = [
    math("Let $p(x)$ be a monic quartic with $p(1) = 2,$ $p(2) = 5,$ $p(3) = 10.$ Find $p(5).$", "50"),
    math("For how many integers $n$ is it true that $\\sqrt{n} \\le \\sqrt{4n - 6}$?", "4"),
    math("Simplify $\\sqrt{180}$.", "6\\sqrt5"),
    math("What is the area of a triangle with vertices $A=(0,0)$, $B=(3,0)$ and $C=(0,4)$?", "6"),
    math("The graph of $y = x^2 + 2x$ meets the line $y = 3$ at two points. Find the distance between them.", "4"),
]


@pytest.mark.parametrize("problem", ORDINARY, ids=range(len(ORDINARY)))
def test_ordinary_math_problems_pass_every_rule(problem: Problem) -> None:
    assert [r.name for r in math_rules() if r.decide(problem)] == []


@pytest.mark.parametrize(("rule", "problem"), [
    (MultiPartRule(), math("(1) Find the minimum of $f$. (2) Find all $x$ where $f(x)=0$.")),
    (MultiPartRule(), math("Let $f(x)=x^2$.\n(a) Compute $f(2)$.\n(b) What is $f(3)$?")),
    (MultipleChoiceRule(), math("Which is prime? $\\textbf{(A)}\\ 4 \\qquad\\textbf{(B)}\\ 6 \\qquad"
                                "\\textbf{(C)}\\ 7$")),
    (MultipleChoiceRule(), math("Pick the right shape of $\\rho = c$. (A) Line (B) Circle (C) Plane", "\\text{(C)}")),
    (TrueFalseRule(), math("Is $f(x) = x^3$ even, odd, or neither?", "\\text{odd}")),
    (TrueFalseRule(), math("True or false: every prime greater than 2 is odd.", "True")),
    (ProofRule(), math("Prove that there are infinitely many primes of the form $4k+3$.")),
    (ProofRule(), math("Let $a,b>0$. Show that $a^2+b^2 \\ge 2ab$.")),
    (FigureRule(), math("Find $XY$ in the triangle below. [asy] draw((0,0)--(1,0)); [/asy]")),
    (FigureRule(), math('What is $x$? [asy] draw((0,0)--(1,0)); label("$x^\\circ$",(0,0)); '
                        'label("$40^\\circ$",(1,0)); [/asy]')),
    (FigureRule(), math("In the figure, $ABCD$ is a rectangle and $AB = 12$. What is the area of triangle $BQW$? "
                        "[asy] [/asy]")),
    (FigureRule(), math("The graph of $y = f(x)$ is shown below. Find $f(2)$.")),
    (NonEnglishRule(), math("已知函数 $f(x)=x^2$，求 $f(3)$ 的值是多少。")),
    (TooShortRule(), math("Find $x$.")),
    (ComplexAnswerRule(), math("Find all solutions of the system of equations below for real numbers.",
                               "(1, 2), (3, 4), (5, 6), (7, 8)")),
    (ComplexAnswerRule(), math("Describe the set of all points equidistant from two given points.",
                               "\\text{the perpendicular bisector of the segment}")),
    (ComplexAnswerRule(), math("Solve for $x$ given the constraint below and state the range.", "0 < x \\le 2")),
], ids=lambda v: getattr(v, "name", ""))
def test_math_rule_fires(rule, problem: Problem) -> None:
    drop = rule.decide(problem)
    assert drop is not None and drop.detail


@pytest.mark.parametrize("problem", [
    math('Triangle $ABC$ has $AB = 13$, $BC = 14$ and $CA = 15$. Find its area. '
         '[asy] draw((0,0)--(14,0)--(5,12)--cycle); label("$A$",(5,12)); label("$B$",(0,0)); '
         'label("$C$",(14,0)); label("$13$",(2,6)); [/asy]'),
    math("The first rows of Pascal's triangle are shown below. How many of the first 20 rows have only even entries "
         "apart from the ones at each end? \\begin{tabular}{ccc} &1& \\\\ 1&&1 \\end{tabular}"),
    math("The graph of $y = x^2 - 4$ meets the $x$-axis at two points. Find their distance."),
], ids=["decorative-asy", "table-in-text", "graph-word"])
def test_figure_rule_keeps_problems_the_text_specifies(problem: Problem) -> None:
    assert FigureRule().decide(problem) is None


def test_image_rule_needs_a_definition_left_to_the_picture() -> None:
    assert ImageRule().decide(code("The mapping of digits to letters is shown in the figure below. Count the "
                                   "presses.\nExample 1:\nInput: s = 22\nOutput: 2")) is not None
    assert ImageRule().decide(code("A snowflake tree is built as follows. The figure below shows a snowflake tree with "
                                   "x=4, y=2.\nInput\nN\nOutput\nthe answer")) is None
    assert ImageRule().decide(code("Given a tree, print its diameter.\nExample 1:\n![](https://x/t.png)\nInput: "
                                   "edges = [[0,1]]\nOutput: 1\nThe tree is shown in the figure above.")) is None


def test_missing_answer_is_its_own_reason() -> None:
    assert ComplexAnswerRule().decide(math("What is two plus five, written as a number?", None)).reason == "no_answer"


@pytest.mark.parametrize(("rule", "problem"), [
    (InteractiveRule(), code("This is an interactive problem. After each query flush the output.")),
    (SpecialJudgeRule(), code("Any answer is checked by a special judge.")),
    (MultipleValidOutputsRule(), code("If there are multiple answers, print any of them.")),
    (MultipleValidOutputsRule(), code("Return the indices. You may return the answer in any order.")),
    (ImageRule(), code("The board looks like this: ![](https://cdn/x.png) Count the cells.")),
    (PlatformTemplateRule(), code("You don't need to read input or print anything. Your task is to complete the "
                                  "function solve() which returns the sum.")),
    (MissingTestsRule(), code("Print the sum.", [TestCase(testtype="stdin", input="", output="")])),
], ids=lambda v: getattr(v, "name", ""))
def test_code_rule_fires(rule, problem: Problem) -> None:
    assert rule.decide(problem) is not None


def test_code_rules_keep_an_ordinary_problem() -> None:
    p = code("Given two integers a and b on one line, print their sum. Constraints: 1 <= a, b <= 10^9.")
    from acereason.curate.rules_code import code_rules

    assert [r.name for r in code_rules() if r.decide(p)] == []


def test_date_cutoff_reads_the_date_fields_sources_use() -> None:
    rule = DateCutoffRule(date(2024, 8, 1))
    assert rule.decide(code("x", contest_date="2024-08-03T00:00:00")).reason == "after_cutoff_date"
    assert rule.decide(code("x", estimated_date="2024-07-31")) is None
    assert rule.decide(code("x", start_time=1722643200)) is not None  # 2024-08-03 in unix seconds
    assert rule.decide(code("x")) is None  # no date: nothing to judge it by
    assert problem_date({"start_time": 1722643200000}) == date(2024, 8, 3)  # milliseconds
