"""English words in Dutch: translations from the FreeDict English-Dutch dictionaries, for English questions.

An English question shares almost no words with a Dutch letter; look-alike spelling (`qa.lookalike`) finds
the loans ('migration' ~ 'migratie') but not 'employers' -> 'werkgevers' or 'why' -> 'waarom'. The FreeDict
dictionaries (GPL, Debian packages `dict-freedict-eng-nld` and `dict-freedict-nld-eng`, in dictd format
under /usr/share/dictd) give both directions: English headwords with their Dutch translations, and Dutch
headwords whose English translations are read backwards. A word's translations are given as the index's
analysed stems (`index.lexical.analyse`), so they match a passage as its BM25 terms do. Without the
dictionaries every word has no translation and only look-alikes count.
"""
from __future__ import annotations

import functools
import gzip
import re
from pathlib import Path

from index.lexical import analyse

DICTD = Path("/usr/share/dictd")  # where Debian's dictd packages put their dictionaries
ENGLISH_DUTCH = "freedict-eng-nld"  # English headword -> Dutch translations
DUTCH_ENGLISH = "freedict-nld-eng"  # Dutch headword -> English translations, read backwards
_BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _number(text: str) -> int:
    """A dictd index number (base 64, most significant digit first)."""
    value = 0
    for ch in text:
        value = value * 64 + _BASE64.index(ch)
    return value


def read_dictd(folder: Path, name: str) -> list[tuple[str, list[str]]]:
    """(headword, its one-word translations) of the dictd dictionary `name` in `folder`; [] when absent."""
    index, data = folder / f"{name}.index", folder / f"{name}.dict.dz"
    if not (index.exists() and data.exists()):
        return []
    raw = gzip.decompress(data.read_bytes())  # dictzip is gzip with an index of its chunks
    entries = []
    for line in index.read_text(encoding="utf-8").splitlines():
        word, offset, length = line.split("\t")[:3]
        if word.startswith("00"):  # the database's own description
            continue
        body = raw[_number(offset):_number(offset) + _number(length)].decode("utf-8").replace("ĳ", "ij")
        lines = body.split("\n", 1)
        found = [t.strip().lower() for t in re.split(r"[,;\n]|\d+\.", lines[1] if len(lines) > 1 else "")]
        entries.append((word.lower().replace("ĳ", "ij"), [t for t in found if t and len(t.split()) == 1]))
    return entries


@functools.lru_cache(maxsize=4)
def translations(folder: Path = DICTD) -> dict[str, set[str]]:
    """English word -> its Dutch translations, from both dictionaries in `folder` (stemmed when asked for:
    stemming all 17,000 entries would cost the first English question ~0.4 s)."""
    dutch: dict[str, set[str]] = {}
    for english, found in read_dictd(folder, ENGLISH_DUTCH):
        dutch.setdefault(english, set()).update(found)
    for word, found in read_dictd(folder, DUTCH_ENGLISH):
        for english in found:
            dutch.setdefault(english, set()).add(word)
    return dutch


def english_forms(word: str) -> list[str]:
    """`word` and the dictionary forms it may be an inflection of: 'employers' -> 'employer', 'decided' -> 'decide'."""
    forms = [word]
    for suffix, replacements in (("ies", ("y",)), ("es", ("",)), ("s", ("",)), ("ed", ("", "e")), ("ing", ("", "e"))):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            forms += [word[:-len(suffix)] + r for r in replacements]
    return forms


@functools.lru_cache(maxsize=50_000)
def dutch_stems(word: str, folder: Path = DICTD) -> frozenset[str]:
    """The analysed Dutch stems `word` (folded English) translates to; empty when the dictionaries lack it."""
    table = translations(folder)
    for form in english_forms(word):
        if table.get(form):
            return frozenset(stem for dutch in table[form] for stem in analyse(dutch))
    return frozenset()
