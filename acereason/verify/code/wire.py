"""Messages and values that cross the sandbox boundary.

Framing: each message is an 8-byte big-endian length followed by that many bytes of UTF-8 JSON.

Values: the untrusted side encodes a Python value into a tagged JSON tree of *plain* data; the trusted
side decodes it into fresh objects of its own making. Nothing the program defined ever crosses: an
``int`` subclass with a rigged ``__eq__`` is not an ``int`` (exact ``type()`` checks) and crosses as an
opaque handle, which equals nothing. Instances of simple classes (``ListNode``, ``TreeNode``, ...) cross
as ``(class name, attributes)`` records in a flat table (so long or cyclic linked lists need no
recursion) and are rebuilt on the receiving side from *its own* class of that name, if it has one.

Tags: lists are JSON arrays; ``{"T": [...]}`` tuple, ``{"S"|"F": [...]}`` set/frozenset, ``{"D": [[k, v],
...]}`` dict, ``{"B": latin-1}`` bytes, ``{"C": [re, im]}`` complex, ``{"R": [num, den]}`` Fraction, ``{"M":
str}`` Decimal, ``{"Q": [...]}`` deque, ``{"I": hex}`` huge int, ``{"O": k}`` object k of the table,
``{"H": k}`` handle to an object that stays on the sending side.
"""

from __future__ import annotations

import collections
import decimal
import fractions
import json
import os
import struct
from collections.abc import Callable
from typing import Any

HEADER = struct.Struct(">Q")
_BIG_INT_BITS = 12000  # ints above ~3600 digits travel as hex (never limited by int_max_str_digits)


class WireError(Exception):
    """A malformed frame or value (from the untrusted side: treated as a failed run, never trusted)."""


# ---------------------------------------------------------------- framing (blocking, both sides)

def frame(obj: Any) -> bytes:
    """Serialise ``obj`` (plain JSON data) into one length-prefixed frame."""
    body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=True).encode("utf-8", "replace")
    return HEADER.pack(len(body)) + body


def write_msg(fd: int, obj: Any) -> None:
    """Write one framed message to a blocking file descriptor."""
    data = memoryview(frame(obj))
    while data:
        n = os.write(fd, data)
        data = data[n:]


def read_exact(fd: int, n: int) -> bytes | None:
    """Read exactly ``n`` bytes from a blocking fd; ``None`` on EOF before the first byte."""
    chunks, got = [], 0
    while got < n:
        b = os.read(fd, min(n - got, 1 << 20))
        if not b:
            if got == 0:
                return None
            raise WireError("truncated frame")
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def read_msg(fd: int, limit: int = 1 << 31) -> Any:
    """Read one framed message from a blocking fd; ``None`` on clean EOF."""
    head = read_exact(fd, HEADER.size)
    if head is None:
        return None
    (n,) = HEADER.unpack(head)
    if n > limit:
        raise WireError(f"frame of {n} bytes over the limit")
    body = read_exact(fd, n) or b""
    return loads(body)


def loads(body: bytes) -> Any:
    """Decode a frame body; any malformation raises :class:`WireError`."""
    try:
        return json.loads(body.decode("utf-8", "replace"))
    except (ValueError, RecursionError) as err:
        raise WireError(f"bad frame: {err}") from None


# ---------------------------------------------------------------- values: encoding (untrusted side)

class Ref:
    """A proxy (on the trusted side) for handle ``key`` of the other side: call it, read attributes.

    It has no ``__eq__`` of its own, so it equals only itself: a program result that cannot cross by
    value never compares equal to an expected value.
    """

    __slots__ = ("_key", "_remote")

    def __init__(self, remote: Any, key: int) -> None:
        object.__setattr__(self, "_remote", remote)
        object.__setattr__(self, "_key", key)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._remote.request({"op": "call", "h": self._key, "a": encode(args), "kw": encode(kwargs)})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._remote.request({"op": "getattr", "h": self._key, "name": name})

    def __repr__(self) -> str:
        return f"<remote object {self._key}>"


class Encoder:
    """Encode values into the tagged tree; objects that are not plain go to ``handles`` (if given)."""

    def __init__(self, handles: dict[int, Any] | None = None) -> None:
        self.handles = handles
        self.objects: list[Any] = []
        self._index: dict[int, int] = {}

    def encode(self, value: Any) -> dict:
        """Return ``{"v": tree, "o": object table}`` for ``value``."""
        tree = self._enc(value, 0)
        table: list[Any] = []
        i = 0
        while i < len(self.objects):  # the table grows while we walk it: no recursion along .next
            obj = self.objects[i]
            attrs = [[k, self._enc(v, 0)] for k, v in vars(obj).items() if type(k) is str]
            entry = [type(obj).__name__, attrs]
            if self.handles is not None:  # lets the receiver keep a remote reference instead
                entry.append(self._handle(obj)["H"])
            table.append(entry)
            i += 1
        return {"v": tree, "o": table}

    def _handle(self, value: Any) -> dict:
        if self.handles is None:
            return {"H": -1}
        key = len(self.handles) + 1
        self.handles[key] = value
        return {"H": key}

    def _enc(self, x: Any, depth: int) -> Any:
        if depth > 2000:
            raise ValueError("value nested too deeply")
        t = type(x)
        if x is None or t is bool or t is str:
            return x
        if t is int:
            return x if x.bit_length() < _BIG_INT_BITS else {"I": format(x, "x")}
        if t is float:
            return x
        d = depth + 1
        if t is list:
            return [self._enc(v, d) for v in x]
        if t is tuple:
            return {"T": [self._enc(v, d) for v in x]}
        if t is set or t is frozenset:
            return {"S" if t is set else "F": [self._enc(v, d) for v in x]}
        if t in (dict, collections.OrderedDict, collections.defaultdict, collections.Counter):
            return {"D": [[self._enc(k, d), self._enc(v, d)] for k, v in x.items()]}
        if t is collections.deque:
            return {"Q": [self._enc(v, d) for v in x]}
        if t is bytes or t is bytearray:
            return {"B": bytes(x).decode("latin-1")}
        if t is complex:
            return {"C": [x.real, x.imag]}
        if t is fractions.Fraction:
            return {"R": [self._enc(x.numerator, d), self._enc(x.denominator, d)]}
        if t is decimal.Decimal:
            return {"M": str(x)}
        if t.__module__ == "numpy" and hasattr(x, "tolist"):
            return self._enc(x.tolist(), d)
        if t is Ref:
            return {"H": x._key}
        if _is_record(x):
            key = id(x)
            if key not in self._index:
                self._index[key] = len(self.objects)
                self.objects.append(x)
            return {"O": self._index[key]}
        return self._handle(x)


def _is_record(x: Any) -> bool:
    """A plain instance of a user class (ListNode-like): has a ``__dict__``, is not a type or callable."""
    t = type(x)
    return (isinstance(getattr(x, "__dict__", None), dict) and not isinstance(x, type) and not callable(x)
            and t.__module__ not in ("builtins",) and not hasattr(t, "__slots__"))


def encode(value: Any, handles: dict[int, Any] | None = None) -> dict:
    """Encode ``value`` (see the module docstring); non-plain objects become handles."""
    return Encoder(handles).encode(value)


# ---------------------------------------------------------------- values: decoding (trusted side)

class Opaque:
    """Decoded stand-in for something that could not cross by value; equal only to itself."""

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what

    def __repr__(self) -> str:
        return f"<opaque {self.what}>"


def decode(msg: Any, make_object: Callable[[str], Any] | None = None,
           make_handle: Callable[[int], Any] | None = None) -> Any:
    """Rebuild a value from ``{"v", "o"}``; raise :class:`WireError` on anything malformed.

    ``make_object(name)`` returns a fresh, empty object of the receiver's own class ``name`` for a
    record, or ``None`` if it has no such class; the record then becomes a proxy ``make_handle(k)`` when
    the sender attached handle ``k``, else an :class:`Opaque`.
    """
    try:
        if not isinstance(msg, dict) or "v" not in msg or not isinstance(msg.get("o", []), list):
            raise WireError("bad value envelope")
        table = msg.get("o", [])
        objs: list[Any] = []
        pending: list[tuple[Any, list]] = []
        for entry in table:
            if (not isinstance(entry, list) or len(entry) not in (2, 3) or not isinstance(entry[0], str)
                    or not isinstance(entry[1], list)):
                raise WireError("bad object record")
            obj = make_object(entry[0]) if make_object else None
            if obj is None:
                handle = entry[2] if len(entry) == 3 else None
                obj = make_handle(handle) if make_handle and type(handle) is int and handle > 0 else None
                obj = Opaque(entry[0]) if obj is None else obj
                pending.append((None, []))
            else:
                pending.append((obj, entry[1]))
            objs.append(obj)
        dec = _Decoder(objs, make_handle)
        for obj, attrs in pending:
            if obj is None:
                continue
            for pair in attrs:
                if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[0], str):
                    raise WireError("bad attribute")
                if pair[0].startswith("__"):
                    continue  # never __class__, __dict__, ...
                object.__setattr__(obj, pair[0], dec.value(pair[1], 0))
        return dec.value(msg["v"], 0)
    except WireError:
        raise
    except (TypeError, ValueError, RecursionError, OverflowError, KeyError, IndexError,
            AttributeError, decimal.InvalidOperation, ZeroDivisionError) as err:
        raise WireError(f"bad value: {type(err).__name__}: {err}") from None


class _Decoder:
    def __init__(self, objs: list[Any], make_handle: Callable[[int], Any] | None) -> None:
        self.objs = objs
        self.make_handle = make_handle

    def value(self, x: Any, depth: int) -> Any:
        if depth > 2000:
            raise WireError("value nested too deeply")
        if x is None or type(x) in (bool, int, float, str):
            return x
        d = depth + 1
        if type(x) is list:
            return [self.value(v, d) for v in x]
        if type(x) is not dict or len(x) != 1:
            raise WireError("bad value tag")
        (tag, body), = x.items()
        if tag == "T":
            return tuple(self.value(v, d) for v in _arr(body))
        if tag == "S":
            return {self.value(v, d) for v in _arr(body)}
        if tag == "F":
            return frozenset(self.value(v, d) for v in _arr(body))
        if tag == "D":
            out = {}
            for pair in _arr(body):
                if type(pair) is not list or len(pair) != 2:
                    raise WireError("bad dict item")
                out[self.value(pair[0], d)] = self.value(pair[1], d)
            return out
        if tag == "Q":
            return collections.deque(self.value(v, d) for v in _arr(body))
        if tag == "I" and type(body) is str:
            return int(body, 16)
        if tag == "B" and type(body) is str:
            return body.encode("latin-1")
        if tag == "C" and type(body) is list and len(body) == 2:
            return complex(float(body[0]), float(body[1]))
        if tag == "R" and type(body) is list and len(body) == 2:
            num, den = self.value(body[0], d), self.value(body[1], d)
            if type(num) is not int or type(den) is not int:
                raise WireError("bad fraction")
            return fractions.Fraction(num, den)
        if tag == "M" and type(body) is str:
            return decimal.Decimal(body)
        if tag == "O" and type(body) is int:
            if not 0 <= body < len(self.objs):
                raise WireError("bad object index")
            return self.objs[body]
        if tag == "H" and type(body) is int:
            return self.make_handle(body) if self.make_handle and body > 0 else Opaque("handle")
        raise WireError(f"unknown value tag {tag!r}")


def _arr(body: Any) -> list:
    if type(body) is not list:
        raise WireError("expected an array")
    return body
