"""Build hook for the one compiled piece: the decontamination tokenizer's word scan (optional).

Everything else is in pyproject.toml. ``optional=True``: where no C compiler is available the install goes on
and :mod:`acereason.curate.decontam_hash` uses its numpy path (same words, same hashes, slower).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("acereason.curate._wordscan", ["acereason/curate/_wordscan.c"],
                             extra_compile_args=["-O3"], optional=True)])
