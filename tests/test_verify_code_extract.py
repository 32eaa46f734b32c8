"""Code extraction (last ```python block after </think>) and the trusted-side comparisons."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acereason.verify.code import extract_code
from acereason.verify.code.compare import parse_json_value, stdout_matches, values_match


def test_last_block_after_think_wins() -> None:
    resp = ("<think>\n```python\nprint('draft')\n```\n</think>\nfirst\n```python\nprint(1)\n```\n"
            "then\n```python\nprint(2)\n```")
    assert extract_code(resp) == "print(2)\n"


def test_block_inside_thinking_only_is_no_code() -> None:
    assert extract_code("<think>```python\nprint(1)\n```</think>\nThe answer is 3.") is None


def test_no_think_tag_uses_whole_response_and_tags() -> None:
    assert extract_code("```py\nx = 1\n```") == "x = 1\n"
    assert extract_code("```Python3\nx = 2\n```") == "x = 2\n"
    assert extract_code("```\nx = 3\n```") is None  # untagged fences are not python blocks
    assert extract_code("```cpp\nint main(){}\n```") is None
    assert extract_code("```python\n   \n```") is None
    assert extract_code("") is None


def test_stdout_tokenwise_rules() -> None:
    assert stdout_matches("1 2\n3\n", "1  2\n3")
    assert stdout_matches("3\r\n", "3\n\n\n")
    assert not stdout_matches("1\n2\n", "1 2\n")  # a line-count mismatch fails
    assert not stdout_matches("1\n", "1\n2\n")  # no zip() truncation
    assert not stdout_matches("1\n2\n3\n", "1\n2\n")
    assert stdout_matches("0.3333333\n", "0.333333333")  # float tolerance 1e-6
    assert not stdout_matches("0.3334\n", "0.3333")
    assert stdout_matches("1000000.5\n", "1000000.5000001")  # relative tolerance
    big = "9" * 20000  # longer than int_max_str_digits: compared as digits, never converted
    assert stdout_matches(big, big) and not stdout_matches(big[:-1] + "0", big)
    assert not stdout_matches(big + "1", big)  # exact integers, never through float
    assert stdout_matches("-0", "0") and stdout_matches("007", "7")
    assert not stdout_matches("yes", "YES")
    assert stdout_matches("", "\n") and not stdout_matches("", "0")


def test_values_by_value() -> None:
    assert values_match([1, (2, 3)], [1, [2, 3]])
    assert values_match(0.1 + 0.2, 0.3) and not values_match(0.31, 0.3)
    assert not values_match(True, 1) and not values_match(1, True)
    assert not values_match("1", 1) and not values_match(None, 0)
    assert values_match({"a": [1]}, {"a": [1]}) and not values_match({"a": 1}, {"a": 1, "b": 2})
    assert values_match(10 ** 5000, parse_json_value("1" + "0" * 5000))
    assert not values_match(10 ** 5000 + 1, parse_json_value("1" + "0" * 5000))
    assert values_match(float("nan"), math.nan)


@given(st.lists(st.integers(min_value=-10 ** 30, max_value=10 ** 30), max_size=20))
def test_integer_lines_roundtrip(xs: list[int]) -> None:
    text = " ".join(map(str, xs))
    assert stdout_matches(text + "\n", text)
    if xs:
        bumped = " ".join(map(str, [*xs[:-1], xs[-1] + 1]))
        assert not stdout_matches(bumped, text)


@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
def test_float_printing_tolerance(x: float) -> None:
    assert stdout_matches(f"{x:.9f}", repr(x))


@pytest.mark.parametrize("text", ["[1, 2]", '{"a": null}', "1e400", "-0.0", '"s"'])
def test_parse_json_value(text: str) -> None:
    import json
    assert values_match(parse_json_value(text), json.loads(text))
