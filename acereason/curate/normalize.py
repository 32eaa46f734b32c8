"""Text normalisation shared by dedupe and decontamination: unicode, whitespace, LaTeX spacing, word tokens.

Two views of a statement:

* :func:`normalize_text` keeps the text readable (NFKC, one space between words, LaTeX commands spaced
  consistently, lowercase) and is what exact dedupe hashes;
* :func:`word_tokens` is the bag-of-words view decontamination and MinHash use: lowercase alphanumeric
  runs only, so whitespace, case and punctuation edits (``x^2+3`` vs ``x^2 + 3.``) give the same tokens.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_SPACE = re.compile(r"\s+")
# LaTeX spacing commands and math delimiters that change nothing about the problem.
_LATEX_SPACING = re.compile(r"\\[,;:! ]|\\(?:quad|qquad|displaystyle|textstyle|left|right|big|Big|bigg|Bigg)"
                            r"(?![A-Za-z])")
_DOLLAR_PAREN = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$+")
_OPERATOR_SPACE = re.compile(r"\s*([=+\-*/^_{}()<>,])\s*")
_WORD = re.compile(r"[^\W_]+")


def normalize_text(text: str) -> str:
    """Canonical form of a statement for exact comparison.

    NFKC unicode (full-width digits, ligatures), lowercase, LaTeX spacing commands and ``$``/``\\(``
    delimiters removed, no spaces around operators and braces, runs of whitespace collapsed.
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = _LATEX_SPACING.sub(" ", text)
    text = _DOLLAR_PAREN.sub(" ", text)
    text = _OPERATOR_SPACE.sub(r"\1", text)
    return _SPACE.sub(" ", text).strip()


def word_tokens(text: str) -> list[str]:
    """Lowercase alphanumeric word tokens of ``text`` after NFKC (punctuation and LaTeX symbols dropped)."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def statement_key(text: str) -> str:
    """A short hash of the normalised statement: equal keys = the same problem up to formatting."""
    return hashlib.blake2b(" ".join(word_tokens(text)).encode(), digest_size=12).hexdigest()


_URL_TRAIL = re.compile(r"[/?#]+$")


def normalize_url(url: str) -> str:
    """A URL without scheme, ``www.``, query string or trailing slash, lowercased, for URL dedupe."""
    u = url.strip().lower()
    u = re.sub(r"^[a-z]+://", "", u)
    u = u.removeprefix("www.")
    u = u.split("?", 1)[0].split("#", 1)[0]
    return _URL_TRAIL.sub("", u)
