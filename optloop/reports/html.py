"""A self-contained HTML page: PNGs embedded as data URIs (and linked as adjacent files)."""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = ["Section", "render_html"]

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: left; }
th { background: #f4f4f4; } img { max-width: 100%; border: 1px solid #eee; }
.note { color: #555; font-size: 0.9rem; } dl { display: grid; grid-template-columns: 14rem 1fr; }
dt { font-weight: 600; } dd { margin: 0 0 0.2rem; }
"""


@dataclass(frozen=True)
class Section:
    """One section of the report: a heading, text, an optional image and tables."""

    title: str
    text: str = ""
    image: Path | None = None
    tables: Sequence[pd.DataFrame] = field(default_factory=list)
    anchor: str = ""


def _img(path: Path, base: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    rel = os.path.relpath(path, base)
    return (
        f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></p>'
        f'<p class="note">file: <a href="{html.escape(rel)}">{html.escape(rel)}</a></p>'
    )


def render_html(
    title: str, summary: Sequence[tuple[str, str]], sections: Sequence[Section], base: Path
) -> str:
    """Return the report page; image links are relative to ``base`` (the page's folder)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<dl>",
        *(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in summary),
        "</dl>",
        "<ul>",
        *(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>'
          for s in sections if s.anchor),
        "</ul>",
    ]
    for s in sections:
        anchor = f' id="{html.escape(s.anchor)}"' if s.anchor else ""
        parts.append(f"<h2{anchor}>{html.escape(s.title)}</h2>")
        if s.text:
            parts.append(f'<p class="note">{html.escape(s.text)}</p>')
        if s.image is not None:
            parts.append(_img(s.image, base, s.title))
        for t in s.tables:
            if len(t):
                parts.append(t.to_html(index=False, na_rep="-", border=0, escape=True))
            else:
                parts.append('<p class="note">(none)</p>')
    parts.append("</body></html>")
    return "\n".join(parts)
