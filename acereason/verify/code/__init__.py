"""Sandboxed code judge (torch-free): extraction, isolation, harnesses, comparison, worker pool.

``judge(code, tests, fn_name=None, time_limit_s=6, memory_mb=1024, all_tests=False) -> Verdict`` runs
one program on tests in the contract's form (``stdin`` / ``functional`` / ``check``);
``judge_batch(items)`` runs many on a pool of pre-imported sandbox workers (one per core);
``extract_code(response)`` takes the last ```python block after ``</think>``. See docs/verify-code.md
and :mod:`.sandbox` for what is and is not isolated.
"""

from .extract import extract_code
from .judge import STATUSES, judge, judge_batch, judge_response
from .pool import JudgePool, default_pool, shutdown_default_pool

__all__ = ["STATUSES", "JudgePool", "default_pool", "extract_code", "judge", "judge_batch", "judge_response",
           "shutdown_default_pool"]
