"""Sampling with vLLM's offline engine (``pip install acereason[vllm]``; needs a GPU).

    gen = VLLMGenerator("/models/AceReason-7B", gpu_memory_utilization=0.85, max_model_len=32768)

Prompts are rendered and tokenized here, with the same rules as the other backends (chat template with
``add_generation_prompt=True``; see ``encode_prompt``), and handed to vLLM as token ids, so
``prompt_token_ids`` is exactly what was conditioned on. The returned ``text`` is decoded from the sampled
ids with our tokenizer and cut at the first stop string, as in ``HFGenerator``, so both backends agree on
text for equal ids. ``token_ids`` are vLLM's (eos included when it ended the sample).

Seeds: with ``SamplingParams.seed`` set, prompt ``i`` gets its own seed derived from it (as in the openai
backend), so the call is reproducible and equal prompts still get different samples.

Log-probs are the sampled tokens' log-probs as vLLM reports them: by default from the unadjusted model
distribution; pass ``logprobs_mode="processed_logprobs"`` (vLLM >= 0.10) to get those of the
temperature/top-p adjusted distribution actually sampled from, like ``HFGenerator``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from acereason.generate.base import Completion, Prompt, SamplingParams, encode_prompt, first_stop
from acereason.generate.openai_backend import request_seed


class VLLMGenerator:
    """A ``Generator`` over ``vllm.LLM``; ``engine_kw`` go to ``vllm.LLM`` unchanged (e.g. ``dtype``,
    ``tensor_parallel_size``, ``gpu_memory_utilization``, ``max_model_len``, ``enable_prefix_caching``)."""

    def __init__(self, path: str | Path, **engine_kw: Any) -> None:
        try:
            import vllm
        except ImportError as exc:
            raise ImportError("the vllm backend needs vllm: pip install 'acereason[vllm]' (on a GPU machine)") from exc
        from acereason.generate.hf import load_tokenizer

        self._vllm = vllm
        self.path = str(path)
        self.llm = vllm.LLM(model=self.path, **engine_kw)
        # our loader, not vLLM's: it keeps generic tokenizers exactly as saved (see hf.load_tokenizer)
        self.tokenizer = load_tokenizer(self.path) if Path(self.path).is_dir() else self.llm.get_tokenizer()
        self.eos_id = self.tokenizer.eos_token_id

    def _params(self, index: int, n: int, params: SamplingParams) -> Any:
        return self._vllm.SamplingParams(
            n=n, temperature=params.temperature, top_p=params.top_p, max_tokens=params.max_tokens,
            seed=request_seed(params.seed, index) if params.seed is not None else None,
            stop=list(params.stop) or None, logprobs=0,  # 0: the sampled token's log-prob only
        )

    def generate(self, prompts: Sequence[Prompt], n: int, params: SamplingParams) -> list[list[Completion]]:
        """Return ``n`` completions per prompt, in prompt order, from one ``LLM.generate`` call."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        prompt_ids = [encode_prompt(self.tokenizer, p) for p in prompts]
        requests = [{"prompt_token_ids": ids} for ids in prompt_ids]
        sampling = [self._params(i, n, params) for i in range(len(prompts))]
        outputs = self.llm.generate(requests, sampling, use_tqdm=False)
        results = []
        for ids, request_output in zip(prompt_ids, outputs, strict=True):
            completions = []
            for out in sorted(request_output.outputs, key=lambda o: o.index):
                token_ids = list(out.token_ids)
                body = token_ids[:-1] if token_ids and token_ids[-1] == self.eos_id else token_ids
                text = self.tokenizer.decode(body, skip_special_tokens=True)
                cut = first_stop(text, params.stop) if params.stop else None
                if cut is not None:
                    text = text[:cut]
                logprobs = None
                if out.logprobs is not None:  # one {token_id: Logprob} per generated token
                    logprobs = [float(step[t].logprob) for step, t in zip(out.logprobs, token_ids, strict=True)]
                completions.append(Completion(
                    text=text, token_ids=token_ids, finish_reason="length" if out.finish_reason == "length" else "stop",
                    prompt_token_ids=list(ids), logprobs=logprobs))
            results.append(completions)
        return results


def from_spec(rest: str, **kw: Any) -> VLLMGenerator:
    """The ``vllm:PATH`` backend for :func:`acereason.generate.registry.make_generator`: ``kw`` go to ``vllm.LLM``."""
    return VLLMGenerator(rest, **kw)
