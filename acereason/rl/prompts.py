"""Chat messages for a problem: now :mod:`acereason.prompts` (below both training and evaluation);
kept importable from here for existing callers."""

from __future__ import annotations

from acereason.prompts import CODE_INSTRUCTION, MATH_INSTRUCTION, build_messages

__all__ = ["CODE_INSTRUCTION", "MATH_INSTRUCTION", "build_messages"]
