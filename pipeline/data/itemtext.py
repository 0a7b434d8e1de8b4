"""Item text as UniSRec/VQ-Rec build it: title + categories + brand, each cleaned."""
from __future__ import annotations

import html
import re
from typing import Iterable

MAX_FIELD_CHARS = 2000  # UniSRec drops fields this long (mostly scraped HTML/JS blobs)
_SPACES = re.compile(r"\s+")


def clean(text: str) -> str:
    """HTML-unescape, drop quotes and line breaks, collapse spaces, keep one trailing period."""
    text = html.unescape(text)
    text = text.replace('"', " ").replace("\n", " ").replace("\r", " ").replace("\t", " ")
    text = _SPACES.sub(" ", text).strip()
    text = text.rstrip(". ").strip()
    return f"{text}." if text else ""


def field(value: str | Iterable[str] | None) -> str:
    """One metadata field (a string or a list of strings) cleaned; '' when absent or too long."""
    if value is None:
        return ""
    if not isinstance(value, str):
        parts = [v for v in value if isinstance(v, str)]
        # Amazon categories repeat the top-level name and sometimes nest lists; keep unique parts in order
        value = " ".join(dict.fromkeys(p.strip() for p in parts if p.strip()))
    if len(value) >= MAX_FIELD_CHARS:
        return ""
    return clean(value)


def item_text(title: str | None, categories: str | Iterable[str] | None = None, brand: str | None = None) -> str:
    """The text of an item: cleaned fields joined by spaces (empty fields skipped)."""
    return " ".join(f for f in (field(title), field(categories), field(brand)) if f)
