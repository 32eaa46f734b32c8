"""Stable seeds for every random choice of a run (data order, sampling, filter measurements)."""

from __future__ import annotations


def derived_seed(*parts: int) -> int:
    """A stable 31-bit seed from integers (no Python hash randomisation involved)."""
    h = 1469598103934665603
    for p in parts:
        h = ((h ^ (p & 0xFFFFFFFFFFFF)) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h & 0x7FFFFFFF
