"""Verifiers: rule-based math answer checking and sandboxed code judging.

This package must never import torch: it runs inside veRL reward workers and process pools.
``acereason.verify.reward(problem, response) -> float`` is the one reward for any problem; the math
verifier (:mod:`acereason.verify.math`) and code judge (:mod:`acereason.verify.code`) import lazily.
"""

from acereason.verify.dispatch import reward, score, score_batch

__all__ = ["reward", "score", "score_batch"]
