"""How letter text and citations are shown, once for the CLI, the app and the Markdown export.

Display never changes what is cited: spans index the raw letter text; `display_text` only renders the
markup of Markdown/HTML letters (GEAS<sup>1</sup> -> GEAS¹, **vet** -> vet, [tekst](url) -> tekst)
and drops soft hyphens. HTML output escapes every piece of letter text.
"""
from __future__ import annotations

import html
import re

from corpus.models import Hit

_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
_SUP = re.compile(r"<sup>\s*(\d{1,3})\s*</sup>", re.IGNORECASE)
_TAG = re.compile(r"</?(?:sup|sub|b|i|u|em|strong|p|br|span|div|small|a)\b[^<>\n]{0,200}>", re.IGNORECASE)
_LINK = re.compile(r"\[([^\]\n]{1,300})\]\((?:https?://|www\.|mailto:)[^)\s]{1,500}\)")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", re.DOTALL)
_ITALIC = re.compile(r"(?<![\w*])\*(?=\S)([^*]{1,2000}?)(?<=\S)\*(?![\w*])")
_QUOTE_OR_HEADING = re.compile(r"^(?:>\s?|#{1,6}\s+)", re.MULTILINE)
_HARD_BREAK = re.compile(r"[ \t]{2,}$|\\$", re.MULTILINE)  # Markdown's line-break markers


def display_text(raw: str) -> str:
    """A piece of raw letter text as a reader should see it: markup rendered, the words untouched."""
    text = _SUP.sub(lambda m: m.group(1).translate(_SUPERSCRIPT), raw.replace("\u00ad", ""))
    text = _TAG.sub("", text)
    text = _LINK.sub(r"\1", text)
    text = _BOLD.sub(r"\2", text)
    text = _ITALIC.sub(r"\1", text)
    text = _QUOTE_OR_HEADING.sub("", text)
    return _HARD_BREAK.sub("", text)


def tidy(text: str) -> str:
    """Raw letter text on one line for display (the words are the letter's own)."""
    return re.sub(r"\s+", " ", display_text(text)).strip()


def cite(hit: Hit, paragraph: int | None = None) -> str:
    """'letter sgd-0000142774, paragraph 1; Afsluiting van de Oosterschelde; 1983-06-21; Minister van ...'"""
    m = hit.letter
    parts = [f"letter {m.id}, paragraph {paragraph or hit.passage.paragraph}"]
    parts += [x for x in (m.title, m.date, m.sender) if x]
    if m.dossier:
        parts.append(f"Kamerstuk {m.dossier}" + (f", nr. {m.stuk}" if m.stuk else ""))
    if m.kenmerk:
        parts.append(f"kenmerk {m.kenmerk}")
    if m.url:
        parts.append(m.url)
    return "; ".join(parts)


def html_text(raw: str, flat: bool = False) -> str:
    """Letter text for HTML: rendered, escaped; `flat` folds it onto one line (edges kept, so pieces join)."""
    text = display_text(raw)
    return html.escape(re.sub(r"\s+", " ", text) if flat else text)


def highlighted(hit: Hit, marks: tuple[tuple[int, int], ...], flat: bool = False) -> str:
    """The hit's passage as HTML with each raw span in `marks` (the answering sentences) in <mark>.
    Only sentences are marked: a footnote or signature line inside the passage's span stays plain."""
    text, p = hit.letter.text, hit.passage
    out, at = [], p.start
    for s, e in sorted((max(s, p.start), min(e, p.end)) for s, e in marks):
        if s >= e or s < at:
            continue
        out += [html_text(text[at:s], flat), f"<mark>{html_text(text[s:e], flat)}</mark>"]
        at = e
    out.append(html_text(text[at:p.end], flat))
    return "".join(out)
