"""Item text as UniSRec/VQ-Rec build it: title + categories + brand, each cleaned.

Follows UniSRec's `clean_text`: HTML entities unescaped, double quotes deleted, exactly one
trailing period, and a field whose cleaned text reaches 2,000 characters dropped (mostly
scraped HTML/JS blobs). One deliberate departure: line breaks and tabs become spaces (UniSRec
deletes them, gluing the words on either side together).
"""
from __future__ import annotations

import html
import re
from typing import Iterable

MAX_FIELD_CHARS = 2000
_SPACES = re.compile(r"\s+")


def clean(text: str) -> str:
    """HTML-unescape, delete double quotes, line breaks to spaces, collapse spaces, one trailing period."""
    text = html.unescape(text).replace('"', "")
    text = _SPACES.sub(" ", text).strip()
    text = text.rstrip(". ").strip()
    return f"{text}." if text else ""


def field(value: str | Iterable[str] | None) -> str:
    """One metadata field (a string or a list of strings) cleaned; '' when absent or too long."""
    if value is None:
        return ""
    if not isinstance(value, str):
        # Amazon categories repeat the top-level name and sometimes nest lists; keep unique parts in order
        value = " ".join(dict.fromkeys(p.strip() for p in _strings(value) if p.strip()))
    text = clean(value)
    return "" if len(text) >= MAX_FIELD_CHARS else text


def item_text(title: str | None, categories: str | Iterable[str] | None = None, brand: str | None = None) -> str:
    """The text of an item: cleaned fields joined by spaces (empty fields skipped)."""
    return fields_text((title, categories, brand))


def fields_text(values: Iterable[str | Iterable[str] | None]) -> str:
    """Any number of fields (e.g. a table source's `text_columns`), each cleaned by `field`, joined by
    spaces with empty ones skipped: `item_text` for fields other than title, categories and brand."""
    return " ".join(f for f in map(field, values) if f)


def _strings(value: Iterable) -> Iterable[str]:
    """The strings of a (possibly nested) list, depth first; other values (numbers, null) are skipped."""
    for v in value:
        if isinstance(v, str):
            yield v
        elif isinstance(v, (list, tuple)):
            yield from _strings(v)
