"""Render the report's blocks to Markdown (figures linked under ``report_files/``) and to one self-contained
HTML page (figures inline as base64 PNG data URIs, inline CSS, no scripts, no external resources)."""

from __future__ import annotations

import base64
import html
import re
import struct

from acereason.report.document import Block, Bullets, Figure, Heading, Paragraph, Table

FIGURES_DIR = "report_files"

CSS = """
body { font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Helvetica, Arial, sans-serif;
       color: #1d1d1f; background: #fff; margin: 0; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 21px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #ddd; }
h3 { font-size: 17px; margin: 24px 0 8px; }
nav { font-size: 14px; margin: 8px 0 16px; }
nav a { margin-right: 14px; color: #444; }
ul { padding-left: 22px; }
.table-wrap { overflow-x: auto; margin: 12px 0 4px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #d6d6d6; padding: 4px 8px; white-space: nowrap; }
th { background: #f3f3f3; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fafafa; }
p.caption { font-size: 13px; color: #555; margin: 2px 0 16px; max-width: 1000px; }
figure { margin: 18px 0 26px; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #e4e4e4; }
figcaption { font-size: 13px; color: #555; margin-top: 6px; max-width: 1000px; }
"""


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def slug(text: str) -> str:
    """An anchor id for a heading: lowercase words joined by hyphens."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list[Block]) -> str:
    """GitHub-flavoured Markdown; figures are image links to ``report_files/<name>.png``."""
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Paragraph):
            parts.append(block.text)
        elif isinstance(block, Bullets):
            parts.append("\n".join(f"- {item.replace(chr(10), ' ')}" for item in block.items))
        elif isinstance(block, Table):
            numeric = block.numeric or [False] * len(block.columns)
            lines = ["| " + " | ".join(_md_cell(c) for c in block.columns) + " |",
                     "|" + "|".join("---:" if num else "---" for num in numeric) + "|"]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
            if block.caption:
                lines += ["", f"_{block.caption}_"]
            parts.append("\n".join(lines))
        elif isinstance(block, Figure):
            parts.append(f"![{block.title}]({FIGURES_DIR}/{block.name}.png)\n\n_{block.title}._ {block.caption}")
    return "\n\n".join(parts) + "\n"


def _html_table(block: Table) -> str:
    esc = html.escape
    numeric = block.numeric or [False] * len(block.columns)
    cls = [' class="num"' if num else "" for num in numeric]
    head = "".join(f"<th{c}>{esc(col)}</th>" for c, col in zip(cls, block.columns, strict=True))
    body = "".join(
        "<tr>" + "".join(f"<td{c}>{esc(cell)}</td>" for c, cell in zip(cls, row, strict=False)) + "</tr>\n"
        for row in block.rows)
    out = f'<div class="table-wrap"><table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody></table></div>\n'
    if block.caption:
        out += f'<p class="caption">{esc(block.caption)}</p>\n'
    return out


def to_html(blocks: list[Block]) -> str:
    """One HTML page that needs nothing else: inline CSS, PNGs as data URIs, no JavaScript."""
    esc = html.escape
    title = next((b.text for b in blocks if isinstance(b, Heading) and b.level == 1), "acereason report")
    body: list[str] = []
    sections = [b.text for b in blocks if isinstance(b, Heading) and b.level == 2]
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f'<h{block.level} id="{slug(block.text)}">{esc(block.text)}</h{block.level}>')
            if block.level == 1 and sections:
                links = "".join(f'<a href="#{slug(s)}">{esc(s)}</a>' for s in sections)
                body.append(f"<nav>{links}</nav>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{esc(block.text)}</p>")
        elif isinstance(block, Bullets):
            body.append("<ul>" + "".join(f"<li>{esc(item)}</li>" for item in block.items) + "</ul>")
        elif isinstance(block, Table):
            body.append(_html_table(block))
        elif isinstance(block, Figure):
            width, height = png_size(block.png)
            data = base64.b64encode(block.png).decode("ascii")
            body.append(
                f'<figure id="fig-{slug(block.name)}"><img src="data:image/png;base64,{data}" alt="{esc(block.title)}" '
                f'width="{width}" height="{height}">\n'
                f"<figcaption><strong>{esc(block.title)}.</strong> {esc(block.caption)}</figcaption></figure>")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
        + "\n".join(body)
        + "\n</main>\n</body>\n</html>\n"
    )
