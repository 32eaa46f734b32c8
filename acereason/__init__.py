"""acereason: the AceReason-Nemotron recipe (arXiv 2505.16400) as an installable package.

Math-only RL first, then code-only RL, on data curated so that every reward is checked by a program.
Stages talk through files of the types in :mod:`acereason.schema`.
"""

__version__ = "0.1.0"
