"""veRL ``DataProto`` batches from exported rows and response texts, shaped as veRL's agent loop builds them
for its reward workers (``prompts``, ``responses``, ``attention_mask``, ``input_ids``, ``position_ids``; the
row's ``data_source``, ``reward_model`` and ``extra_info`` in ``non_tensor_batch``).

Imports veRL and torch: used by the veRL-side tests and ``benchmarks/verl_reward.py``, where veRL is installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from verl import DataProto

__all__ = ["dataproto_batch"]


def dataproto_batch(tokenizer: Any, rows: Sequence[dict[str, Any]], responses: Sequence[str],
                    max_response_length: int | None = None, end_with_eos: bool = True,
                    uids: Sequence[str] | None = None) -> DataProto:
    """A batch of ``len(rows)`` samples: row ``i``'s prompt (its first message's text) and ``responses[i]``.

    Responses are tokenized, cut at ``max_response_length`` (a cut response gets no end-of-sequence token:
    it is truncated, as vLLM's ``finish_reason="length"``), padded on the right; prompts padded on the left.
    """
    if len(rows) != len(responses):
        raise ValueError(f"{len(rows)} rows but {len(responses)} responses")
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    p_ids, r_ids = [], []
    for row, text in zip(rows, responses, strict=True):
        prompt = row["prompt"][0]["content"] if row.get("prompt") else ""
        p_ids.append(tokenizer.encode(prompt, add_special_tokens=False) or [pad])
        ids = tokenizer.encode(text, add_special_tokens=False)
        if end_with_eos:
            ids = [*ids, eos]
        if max_response_length is not None and len(ids) > max_response_length:
            ids = ids[:max_response_length]
            if ids and ids[-1] == eos:  # a cut that happens to end on EOS is still a cut
                ids[-1] = pad
        r_ids.append(ids)
    pw = max(len(p) for p in p_ids)
    rw = max_response_length or max(len(r) for r in r_ids)
    n = len(rows)
    prompts = torch.full((n, pw), pad, dtype=torch.long)
    resp = torch.full((n, rw), pad, dtype=torch.long)
    mask = torch.zeros((n, pw + rw), dtype=torch.long)
    for i, (p, r) in enumerate(zip(p_ids, r_ids, strict=True)):
        prompts[i, pw - len(p):] = torch.tensor(p)
        mask[i, pw - len(p):pw] = 1
        if r:
            resp[i, :len(r)] = torch.tensor(r)
            mask[i, pw:pw + len(r)] = 1
    input_ids = torch.cat([prompts, resp], dim=1)
    position_ids = (mask.cumsum(dim=1) - 1).clamp(min=0)
    non_tensor: dict[str, np.ndarray] = {
        "data_source": np.array([r.get("data_source") for r in rows], dtype=object),
        "reward_model": np.array([dict(r.get("reward_model") or {}) for r in rows], dtype=object),
        "extra_info": np.array([dict(r.get("extra_info") or {}) for r in rows], dtype=object),
    }
    if uids is not None:
        non_tensor["uid"] = np.array(list(uids), dtype=object)
    return DataProto.from_dict(tensors={"prompts": prompts, "responses": resp, "attention_mask": mask,
                                        "input_ids": input_ids, "position_ids": position_ids},
                               non_tensors=non_tensor)
