"""Code extraction from a model response: the last ```python block after ``</think>``.

The rule matches the reward of the recipe (DESIGN.md): reasoning before ``</think>`` is ignored, so a
block quoted while thinking never counts; after it, the *last* fenced block tagged ``python`` (or
``py``/``python3``) is the answer. A response with no such block yields ``None`` (status ``no_code``).
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"```[ \t]*(?:python3?|py)[ \t]*\r?\n(.*?)```", re.DOTALL | re.IGNORECASE)
_THINK_END = "</think>"


def extract_code(response: str) -> str | None:
    """Return the last ```python block after ``</think>`` (whole response if no tag), else ``None``.

    >>> extract_code("<think>```python\\nx=1\\n```</think>ok\\n```python\\nprint(2)\\n```")
    'print(2)\\n'
    >>> extract_code("no code here") is None
    True
    """
    if not isinstance(response, str):
        return None
    cut = response.rfind(_THINK_END)
    tail = response[cut + len(_THINK_END):] if cut >= 0 else response
    blocks = _FENCE.findall(tail)
    if not blocks:
        return None
    code = blocks[-1]
    return code if code.strip() else None
