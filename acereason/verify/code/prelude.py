"""The namespace every judged program (and every ``check`` test) starts from.

Competitive-programming and LeetCode answers assume the judge's usual imports (``List[int]``
annotations, ``deque``, ``heappush``, ``lru_cache``, ...) and LeetCode's ``ListNode`` / ``TreeNode``.
The prelude source is executed once when a worker starts; each run gets a shallow copy of the
resulting dict, so a submission pays nothing for it.
"""

from __future__ import annotations

from typing import Any

PRELUDE_SOURCE = '''
import sys, os, io, re, math, cmath, json, copy, heapq, bisect, string, random, time, datetime
import functools, itertools, collections, operator, statistics, fractions, decimal, array, queue
import typing
from typing import *
from collections import *
from itertools import *
from functools import *
from heapq import *
from bisect import *
from math import *
from string import *
from operator import *
from fractions import Fraction
from decimal import Decimal
inf = float("inf")
try:
    from sortedcontainers import SortedDict, SortedList, SortedSet
except ImportError:
    pass


class ListNode:
    def __init__(self, val=0, next=None):
        self.val = val
        self.next = next


class TreeNode:
    def __init__(self, val=0, left=None, right=None):
        self.val = val
        self.left = left
        self.right = right


def list_node(values):
    head = None
    for v in reversed(list(values or [])):
        head = ListNode(v, head)
    return head


def tree_node(values):
    values = list(values or [])
    if not values or values[0] is None:
        return None
    root = TreeNode(values[0])
    level, i = collections.deque([root]), 1
    while level and i < len(values):
        node = level.popleft()
        for side in ("left", "right"):
            if i < len(values) and values[i] is not None:
                child = TreeNode(values[i])
                setattr(node, side, child)
                level.append(child)
            i += 1
    return root


def is_same_list(a, b):
    while a is not None and b is not None:
        if a.val != b.val:
            return False
        a, b = a.next, b.next
    return a is None and b is None


def is_same_tree(a, b):
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if x is None or y is None:
            if x is not y:
                return False
            continue
        if x.val != y.val:
            return False
        stack.append((x.left, y.left))
        stack.append((x.right, y.right))
    return True
'''


def build_prelude() -> dict[str, Any]:
    """Execute the prelude once and return its namespace (copy it per run)."""
    ns: dict[str, Any] = {"__name__": "__prelude__"}
    exec(compile(PRELUDE_SOURCE, "<prelude>", "exec"), ns)
    ns.pop("__builtins__", None)
    return ns
