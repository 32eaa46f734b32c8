"""``acereason.progress.Tracker``: what a piped or ``nohup`` run sees of long work."""

from __future__ import annotations

import io
import re

import pytest

from acereason.progress import Tracker


def test_plain_lines_every_n_and_a_closing_count() -> None:
    s = io.StringIO()
    with Tracker("convert", 2500, every=1000, unit="problems", stream=s, tty=False) as t:
        for _ in range(2500):
            t.update(advance=1)
    counts = [re.match(r"\[convert\] (\d+)/2500 problems", ln).group(1) for ln in s.getvalue().splitlines()]
    assert counts == ["1000", "2000", "2500"]


def test_no_closing_line_when_the_work_fails() -> None:
    s = io.StringIO()
    with pytest.raises(ValueError), Tracker("x", 10, every=100, stream=s, tty=False) as t:
        t.update(advance=3)
        raise ValueError
    assert s.getvalue() == ""


def test_resumed_work_counts_in_the_total_not_in_the_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([100.0, 102.0])  # start, then the line two seconds later
    monkeypatch.setattr("acereason.progress.time.monotonic", lambda: next(clock))
    s = io.StringIO()
    t = Tracker("stage", 10, unit="steps", initial=8, stream=s, tty=False)
    t.update(9, info="reward 0.5")
    # one step here in 2 s: 0.5 steps/s (counting the eight resumed steps would say 4.5)
    assert s.getvalue().strip() == "[stage] 9/10 steps (2s, 0.5 steps/s)  reward 0.5"


def test_disabled_prints_nothing_and_a_terminal_gets_the_bar() -> None:
    s = io.StringIO()
    with Tracker("x", 3, stream=s, tty=False, enabled=False) as t:
        t.update(advance=3)
    assert s.getvalue() == ""
    with Tracker("x", 3, stream=s, tty=True) as t:
        t.update(advance=3)
    assert "x" in s.getvalue() and "3/3" in s.getvalue()
