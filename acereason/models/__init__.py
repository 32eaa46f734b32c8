"""Model and tokenizer builders that need no download (tiny models for the CPU demo and tests)."""

from acereason.models.tiny import TinyModelConfig, build_char_tokenizer, build_tiny_model, save_tiny

__all__ = ["TinyModelConfig", "build_char_tokenizer", "build_tiny_model", "save_tiny"]
