"""The report as a list of blocks, so Markdown and HTML are two renderings of one content (never drift)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Heading:
    """A section title; level 1 is the page title."""

    text: str
    level: int = 2


@dataclass
class Paragraph:
    """Plain text (HTML-escaped when rendered to HTML)."""

    text: str


@dataclass
class Bullets:
    """An unordered list of plain-text items."""

    items: list[str]


@dataclass
class Table:
    """A table of preformatted cells; ``numeric[i]`` right-aligns column ``i`` in HTML."""

    columns: list[str]
    rows: list[list[str]]
    caption: str = ""
    numeric: list[bool] = field(default_factory=list)


@dataclass
class Figure:
    """A PNG figure; ``name`` is its file stem under ``report_files/``."""

    name: str
    title: str
    caption: str
    png: bytes


Block = Heading | Paragraph | Bullets | Table | Figure
