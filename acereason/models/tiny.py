"""A character-level tokenizer and a tiny Qwen2/Llama model, built in-process with no download.

The tokenizer is a real ``PreTrainedTokenizerFast`` with a Qwen-style chat template, so every code path
that serves a hub model (chat templates, ``generate``, saving and loading with ``from_pretrained``)
runs unchanged on it. Characters cover printable ASCII; the chat markers and ``<think>``/``</think>``
are single tokens that survive decoding (they are not "special", so ``skip_special_tokens`` keeps them).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
PAD, EOS, UNK = "<|endoftext|>", "<|im_end|>", "<unk>"
MARKERS = ["<|im_start|>", "<think>", "</think>"]


def build_char_tokenizer(extra_chars: str = ""):  # -> PreTrainedTokenizerFast
    """A char-level fast tokenizer: printable ASCII (+ ``extra_chars``), chat markers as single tokens."""
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    chars = sorted(set(string.printable.replace("\x0b", "").replace("\x0c", "") + extra_chars))
    specials = [PAD, EOS, UNK]
    vocab = {tok: i for i, tok in enumerate(specials + chars)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK, fuse_unk=True))
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, eos_token=EOS, unk_token=UNK,
                                   clean_up_tokenization_spaces=False, padding_side="left")
    fast.add_tokens(MARKERS)  # normal (not special) added tokens: one id each, kept by decode
    fast.chat_template = CHAT_TEMPLATE
    return fast


@dataclass
class TinyModelConfig:
    """Shape of the tiny model. The probe in DESIGN.md found 2 layers x width 128 as good per step as 4
    layers and twice as fast on 2 CPU cores."""

    arch: str = "qwen2"
    layers: int = 2
    hidden: int = 128
    heads: int = 4
    kv_heads: int = 2
    intermediate: int = 384
    max_positions: int = 2048


def build_tiny_model(tokenizer, cfg: TinyModelConfig | None = None, seed: int = 0):  # -> PreTrainedModel
    """A randomly initialised Qwen2 (or Llama) causal LM sized for CPU training."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    cfg = cfg or TinyModelConfig()
    common = dict(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden, num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads, num_key_value_heads=cfg.kv_heads, intermediate_size=cfg.intermediate,
        max_position_embeddings=cfg.max_positions, tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, bos_token_id=None,
    )
    if cfg.arch == "qwen2":
        config, cls = Qwen2Config(**common), Qwen2ForCausalLM
    elif cfg.arch == "llama":
        config, cls = LlamaConfig(**common), LlamaForCausalLM
    else:
        raise ValueError(f"unknown tiny arch {cfg.arch!r}; use 'qwen2' or 'llama'")
    torch.manual_seed(seed)
    model = cls(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def save_tiny(model, tokenizer, path: str | Path) -> Path:
    """Save model and tokenizer in Hugging Face layout (loadable with ``from_pretrained(path)``)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
