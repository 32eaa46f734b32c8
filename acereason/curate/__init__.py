"""Data curation: raw math and code sources -> verified, decontaminated RL sets (issue 8, paper §3).

Steps are generator stages (``Iterator[Problem] -> Iterator[Problem]``, :mod:`.pipeline`); filters return
keep/drop plus a reason, drops are counted per reason and written to an exclusions file, and finished
shards leave completion markers, valid for the content fingerprints of what produced them
(:mod:`.fingerprint`). ``acereason curate math|code`` (:mod:`.cli`) runs the whole pipeline: normalise ->
exclusion rules -> n-gram / date decontamination -> exact + MinHash dedupe -> golden-solution test
validation (code) -> model validation with a disk cache -> length balancing -> report.
"""

from acereason.curate.decontam import NgramIndex, decontaminate
from acereason.curate.normalize import normalize_text, word_tokens
from acereason.curate.pipeline import Drop, Filter, PipelineContext, Step, run_steps

__all__ = ["Drop", "Filter", "NgramIndex", "PipelineContext", "Step", "decontaminate", "normalize_text",
           "run_steps", "word_tokens"]
