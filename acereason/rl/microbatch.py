"""How a rollout batch splits into micro-batches: by count (``micro_batch_size``) or by a token budget.

With real response lengths (a few hundred to 32K tokens in one batch) a count-based split pads every row to
the longest sequence of its micro-batch, so most of the update's compute can go to padding. With
``max_tokens_per_micro_batch`` the sequences are sorted by length (longest first, so an out-of-memory shows at
the first micro-batch) and cut into micro-batches whose *padded* size (rows x longest row, prompt + response)
stays within the budget; neighbours in the sorted order have nearly the same length, so little is padding.
When the model's attention takes packed sequences (flash-attention reads sequence boundaries from the
``position_ids``), a micro-batch is one row of concatenated sequences instead, with no padding at all, and
the budget bounds the sum of the lengths (first-fit decreasing). A sequence longer than the budget gets a
micro-batch of its own.

The loss denominator does not depend on the split: token-mean divides by the whole rollout batch's
response tokens (:func:`acereason.rl.algos.aggregate_loss` with ``total_tokens``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

PACKING_ATTENTION = ("flash_attention_2", "flash_attention_3")


@dataclass(frozen=True)
class Plan:
    """Micro-batches as lists of sample indices, and whether each is packed into one row."""

    batches: list[list[int]]
    packed: bool

    def padded_tokens(self, lengths: list[int]) -> int:
        """Positions the forward passes process (padding included)."""
        if self.packed:
            return sum(lengths[i] for b in self.batches for i in b)
        return sum(len(b) * max(lengths[i] for i in b) for b in self.batches if b)

    def padding_frac(self, lengths: list[int]) -> float:
        """Share of the processed positions that are padding (0 when packed)."""
        total = self.padded_tokens(lengths)
        return 1.0 - sum(lengths[i] for b in self.batches for i in b) / total if total else 0.0


def supports_packing(model: torch.nn.Module) -> bool:
    """Whether ``model``'s attention keeps packed sequences apart given only ``position_ids`` (no padding)."""
    impl = getattr(getattr(model, "config", None), "_attn_implementation", None)
    return impl in PACKING_ATTENTION


def plan_micro_batches(lengths: list[int], micro_batch_size: int, max_tokens: int | None = None,
                       packed: bool = False) -> Plan:
    """Split samples of ``lengths`` (prompt + response tokens) into micro-batches.

    ``max_tokens`` None: consecutive runs of ``micro_batch_size`` samples in their order (never packed).
    Otherwise sorted by length, longest first: padded micro-batches of at most ``max_tokens`` rows x longest
    row, or (``packed``) first-fit-decreasing bins of at most ``max_tokens`` summed tokens.
    """
    if max_tokens is None:
        return Plan([list(range(s, min(s + micro_batch_size, len(lengths))))
                     for s in range(0, len(lengths), micro_batch_size)], packed=False)
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    if packed:
        bins: list[list[int]] = []
        room: list[int] = []
        for i in order:
            for k, free in enumerate(room):
                if lengths[i] <= free:
                    bins[k].append(i)
                    room[k] -= lengths[i]
                    break
            else:
                bins.append([i])
                room.append(max_tokens - lengths[i])
        return Plan([sorted(b) for b in bins], packed=True)
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:  # descending lengths: the first row of a micro-batch is its longest
        if current and (len(current) + 1) * lengths[current[0]] > max_tokens:
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return Plan(batches, packed=False)


def plan_micro_batches_ref(lengths: list[int], max_tokens: int) -> list[list[int]]:
    """Loop reference for the padded token-budget plan: every micro-batch is a run of the sorted order whose
    padded size fits, and it is as long as it can be."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    out: list[list[int]] = []
    k = 0
    while k < len(order):
        n = 1
        while k + n < len(order) and (n + 1) * lengths[order[k]] <= max_tokens:
            n += 1
        out.append(order[k: k + n])
        k += n
    return out
