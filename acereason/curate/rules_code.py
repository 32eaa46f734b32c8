"""Exclusion rules for code problems (paper §3.2.2: keep only problems whose tests judge every correct
program as correct).

Interactive problems, special judges and problems with several valid outputs cannot be graded by
comparing output; image-dependent statements and platform templates (a hidden driver calls the
user's function) cannot be solved from the text; problems without usable tests cannot be graded at all.
Date-based decontamination (contest date after a cutoff) lives here too because it reads the same
metadata. :data:`code_rules` lists them in the order they run.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from acereason.curate.pipeline import Drop, Filter, PatternRule
from acereason.schema import Problem

_INTERACTIVE = re.compile(r"(?i)\binteractive (?:problem|task)\b|\bthis is an interactive\b|\binteractor\b|"
                          r"\bflush the output\b|\bfflush\s*\(|\bsys\.stdout\.flush\b|\bSystem\.out\.flush\b")


class InteractiveRule(PatternRule):
    """Interactive problems: the judge talks to the program, so fixed stdin/stdout tests cannot grade them."""

    name = "interactive"
    pattern = _INTERACTIVE


_SPECIAL_JUDGE = re.compile(r"(?i)\bspecial judge\b|\bchecker (?:will|program)\b|\bspecial checker\b")
_MULTI_OUTPUT = re.compile(
    r"(?i)\b(?:print|output|return) any (?:one |of them|valid|such|possible|correct|suitable)|"
    r"\bif there are (?:several|multiple|many) (?:possible |valid |correct |optimal )?(?:answers|solutions)|"
    r"\bany of (?:them|these|the (?:answers|solutions)) (?:is|are|will be) (?:accepted|considered)|"
    r"\b(?:return|print|output)\b[^.]{0,60}\bin any order\b|"
    r"\b(?:answer|result|output|them|list|array|elements|pairs|values|strings)\s+(?:can be |may be )?(?:returned |"
    r"printed |given |output )?in any order\b|"
    r"\bmultiple (?:valid |correct )?(?:answers|solutions) (?:exist|are possible)")


class SpecialJudgeRule(PatternRule):
    """Problems graded by a special judge (a checker program), not by comparing output."""

    name = "special_judge"
    pattern = _SPECIAL_JUDGE


class MultipleValidOutputsRule(PatternRule):
    """Problems that accept several outputs ("print any of them", "in any order"): a fixed expected
    output would mark correct programs wrong."""

    name = "multiple_valid_outputs"
    pattern = _MULTI_OUTPUT


_IMAGE_MARKUP = re.compile(r"(?i)<img\b|<image>|!\[[^\]]*\]\(|\.(?:png|jpe?g|gif|svg)\b")
# Where the problem's definition ends: the first example, sample, input-format or constraints section.
_TEXT_SPEC = re.compile(r"(?i)\binput\b|\bconstraints?\b|\bexample\b")
_DEFINITION_END = re.compile(r"(?im)^\s*(?:example|sample|input|constraints?|note)s?\b|\bexample\s*1\s*:|"
                             r"\bsample input\b|\n\s*input\s*\n|\bconstraints:")
# A definition deferred to the picture: "the mapping ... is shown below", "as shown in the figure".
_PICTURE = r"(?:image|picture|figure|illustration|diagram)"
_DEFERRED = re.compile(rf"(?i)\b(?:is|are) (?:shown|depicted|drawn) (?:below|above|in the {_PICTURE})\b|"
                       rf"\bas shown (?:below|above|in the {_PICTURE})\b|"
                       rf"\b{_PICTURE} (?:below|above) (?:shows|gives|describes|defines)\b|\bshown in the {_PICTURE}\b")
# ... unless the sentence says the picture is an example or an illustration of what the text defines.
_ILLUSTRATES = re.compile(r"(?i)\bexamples?\b|\bfor instance\b|\bsuch as\b|\bwith [a-z]\s*=|\bwith \d+\b|\billustrat")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*\n")


def _definition(text: str) -> str:
    m = _DEFINITION_END.search(text)
    return text[: m.start()] if m else text


class ImageRule(Filter):
    """Statements that need their picture. Most pictures in contest statements illustrate an example the text
    also spells out (a sample's explanation, "the figure below shows a tree with x=4"), so a picture is not
    enough: in the part that defines the problem (before the first example, sample, input format or
    constraints) a sentence must defer to it ("the mapping of digits to letters is shown below", "a regular
    pentagon P is shown in the figure") without calling it an example or illustration, or image markup must
    stand there with no textual input specification anywhere. Precision and recall on hand labels:
    docs/curate.md."""

    name = "image"

    def decide(self, problem: Problem) -> Drop | None:
        head = _definition(problem.prompt)
        for sentence in _SENTENCE_END.split(head):
            m = _DEFERRED.search(sentence)
            if m and not _ILLUSTRATES.search(sentence):
                return Drop(self.name, repr(m.group(0)))
        m = _IMAGE_MARKUP.search(problem.prompt)
        if m and not _TEXT_SPEC.search(problem.prompt):
            return Drop(self.name, f"{m.group(0)!r} and no textual input specification")
        return None


_TEMPLATE = re.compile(r"(?i)\byou don'?t (?:need|have) to (?:read|take) (?:any )?input\b|\bdriver code\b|"
                       r"\byour task is to complete the function\b|\bcomplete the function \w+\(\)|"
                       r"\bread problems? statements? in\b|\bthe input is already taken care of\b")


class PlatformTemplateRule(Filter):
    """Platform templates: statements written for a hidden driver ("You don't need to read input ...
    complete the function") or carrying platform boilerplate instead of the problem."""

    name = "platform_template"

    def decide(self, problem: Problem) -> Drop | None:
        m = _TEMPLATE.search(problem.prompt)
        if m and not (problem.fn_name and problem.tests and problem.tests[0].testtype != "stdin"):
            return Drop(self.name, repr(m.group(0)))
        if m and "read problem" in m.group(0).lower():
            return Drop(self.name, repr(m.group(0)))
        return None


class MissingTestsRule(Filter):
    """Problems with no usable tests: none, stdin tests whose input and output are all empty, or
    functional tests without a function name."""

    name = "missing_tests"

    def decide(self, problem: Problem) -> Drop | None:
        tests = problem.tests or []
        if not tests:
            return Drop(self.name, "no tests")
        if all(not t.input.strip() and not t.output.strip() for t in tests):
            return Drop(self.name, "every test is empty")
        if all(t.testtype == "stdin" and not t.output.strip() for t in tests):
            return Drop(self.name, "no expected output in any test")
        return None


_DATE_KEYS = ("contest_date", "estimated_date", "start_time", "release_date", "date")


def problem_date(meta: dict[str, Any]) -> date | None:
    """The contest / release date recorded in a problem's metadata, or None when there is none."""
    for key in _DATE_KEYS:
        value = meta.get(key)
        if value in (None, ""):
            continue
        if isinstance(value, int | float):  # unix seconds (PRIME's start_time) or milliseconds
            ts = value / 1000 if value > 1e11 else value
            return datetime.fromtimestamp(ts, tz=UTC).date()
        m = re.match(r"(\d{4})-(\d{2})-(\d{2})", str(value))
        if m:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    return None


class DateCutoffRule(Filter):
    """Date-based decontamination (paper: code problems after 2024-08-01 are dropped, since LiveCodeBench v5
    starts there): drop a problem whose contest date is on or after ``cutoff``."""

    name = "decontam_date"

    def __init__(self, cutoff: date = date(2024, 8, 1)) -> None:
        self.cutoff = cutoff

    def decide(self, problem: Problem) -> Drop | None:
        d = problem_date(problem.meta)
        if d is not None and d >= self.cutoff:
            return Drop("after_cutoff_date", f"dated {d.isoformat()} >= {self.cutoff.isoformat()}")
        return None


def code_rules() -> list[Filter]:
    """The code exclusion rules, in the order they run."""
    return [MissingTestsRule(), InteractiveRule(), SpecialJudgeRule(), MultipleValidOutputsRule(), ImageRule(),
            PlatformTemplateRule()]
