"""The value codec that crosses the sandbox boundary: plain values survive, nothing else does."""

from __future__ import annotations

import collections
import fractions

from hypothesis import given
from hypothesis import strategies as st

from acereason.verify.code import wire
from acereason.verify.code.prelude import build_prelude

plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=4) | st.tuples(kids, kids) | st.dictionaries(st.text(max_size=4), kids,
                                                                                    max_size=4),
    max_leaves=20)


@given(plain)
def test_plain_values_roundtrip(value: object) -> None:
    msg = wire.loads(wire.frame(wire.encode(value))[wire.HEADER.size:])
    assert wire.decode(msg) == value


def test_special_types_and_huge_ints() -> None:
    value = [{1, 2}, frozenset([3]), b"\x00\xff", 1 + 2j, fractions.Fraction(1, 3), collections.deque([1]),
             collections.Counter("aab"), 3 ** 40000]
    got = wire.decode(wire.encode(value))
    assert got[:6] == value[:6] and got[6] == {"a": 2, "b": 1} and got[7] == 3 ** 40000
    assert type(got[6]) is dict


def test_rigged_objects_never_cross() -> None:
    class AlwaysEq(int):
        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = int.__hash__

    class Weird:
        def __eq__(self, other: object) -> bool:
            return True

    got = wire.decode(wire.encode([AlwaysEq(5), Weird(), print, int]))
    assert all(isinstance(x, wire.Opaque) for x in got)
    assert got[0] != 5 and got[1] != got[0]


def test_linked_list_crosses_by_value_without_recursion() -> None:
    ns = build_prelude()
    head = ns["list_node"](range(100_000))
    msg = wire.encode(head)
    rebuilt = wire.decode(msg, make_object=lambda name: object.__new__(ns[name]) if name in ns else None)
    assert ns["is_same_list"](rebuilt, ns["list_node"](range(100_000)))
    cyc = ns["list_node"]([1, 2])
    cyc.next.next = cyc
    back = wire.decode(wire.encode(cyc), make_object=lambda name: object.__new__(ns[name]))
    assert back.next.next is back


def test_malformed_values_raise_wire_error() -> None:
    for bad in [{"v": {"X": 1}}, {"v": {"O": 5}, "o": []}, {"v": {"D": [[[1], 2]]}}, {"v": 1, "o": [[1]]},
                {"v": {"T": 3}}, "nope", {"v": {"I": "zz"}}]:
        try:
            wire.decode(bad)
        except wire.WireError:
            continue
        raise AssertionError(f"accepted {bad!r}")


def test_dunder_attributes_are_dropped() -> None:
    ns = build_prelude()
    msg = {"v": {"O": 0}, "o": [["ListNode", [["__class__", 1], ["val", 3]]]]}
    node = wire.decode(msg, make_object=lambda name: object.__new__(ns[name]))
    assert type(node) is ns["ListNode"] and node.val == 3
