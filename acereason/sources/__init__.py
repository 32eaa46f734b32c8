"""Source readers: one per real data format, each turning a file into ``Problem`` records.

``read_source(path, fmt=None)`` detects the format when not given; ``READERS`` lists them all.
"""

from acereason.sources import (  # noqa: F401  (importing registers the readers)
    apps,
    contests,
    humaneval,
    lcb,
    leetcode,
    math_sources,
    ours,
    verl_parquet,
)
from acereason.sources.registry import READERS, Reader, detect_format, read_source, register_reader

__all__ = ["READERS", "Reader", "detect_format", "read_source", "register_reader"]
