"""How letter text and citations are shown, once for the CLI, the app and the Markdown export.

Display never changes what is cited: spans index the raw letter text; `display_text` only renders the
markup of Markdown/HTML letters (GEAS<sup>1</sup> -> GEAS¹, **vet** -> vet, [tekst](url) -> tekst)
and drops soft hyphens. HTML output escapes every piece of letter text.
"""
from __future__ import annotations

import html
import re
from dataclasses import replace

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


# ---- the app's HTML and Markdown: every piece of letter text goes through html.escape ------------

def markdown_text(text: str) -> str:
    """Letter text for the chat's Markdown: HTML-escaped, Markdown punctuation backslash-escaped."""
    text = re.sub(r"([\\`*_\[\]#|~$])", r"\\\1", html.escape(tidy(text)))
    return re.sub(r"^(\d+)\.|^([-+])", lambda m: f"{m.group(1)}\\." if m.group(1) else f"\\{m.group(2)}", text)


def link_html(url: str, label: str) -> str:
    if not url.startswith(("https://", "http://")):
        return ""
    return f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer">{label}</a>'


def meta_line(hit: Hit, paragraph: int | None = None) -> str:
    m, p = hit.letter, hit.passage
    parts = [f"date {html.escape(m.date or 'unknown')}"]
    if m.sender:
        parts.append(f"from {html.escape(m.sender)}")
    if m.dossier:
        parts.append(f"Kamerstuk {html.escape(m.dossier)}" + (f", nr. {html.escape(m.stuk)}" if m.stuk else ""))
    if m.kenmerk:
        parts.append(f"kenmerk {html.escape(m.kenmerk)}")
    parts.append(f"paragraph {paragraph or p.paragraph} of letter {html.escape(m.id)}")
    return " · ".join(parts)


def source_card(label: str, hit: Hit, sentence: tuple[int, int] | None, paragraph: int | None = None) -> str:
    """One source: title, metadata, the passage in its own words with the answering sentence marked."""
    body = highlighted(hit, (sentence,) if sentence else (), flat=True)
    link = link_html(hit.letter.url, "official publication")
    return (f'<div class="kq-source"><b>{html.escape(label)} {html.escape(hit.letter.title or hit.letter.id)}</b>'
            f'<div class="kq-meta">{meta_line(hit, paragraph)}</div><blockquote class="kq-passage">{body.strip()}</blockquote>'
            f"{link}</div>")


def letter_view(hit: Hit, sentence: tuple[int, int] | None) -> str:
    """The whole letter as text, the cited passage's sentences in an element with id kq-cited (lines
    around them, such as a footnote or the signature, stay outside), the answering sentence marked."""
    text, p = hit.letter.text, hit.passage
    start, end = (p.sentences[0][0], p.sentences[-1][1]) if p.sentences else (p.start, p.end)
    cited = highlighted(replace(hit, passage=replace(p, start=start, end=end)), (sentence,) if sentence else ())
    link = link_html(hit.letter.url, "official publication")
    return (f'<div class="kq-letter"><h3>{html.escape(hit.letter.title or hit.letter.id)}</h3>'
            f'<div class="kq-meta">{meta_line(hit)} {link}</div>'
            f'<div class="kq-letter-body">{html_text(text[:start])}<span id="kq-cited" class="kq-cited">{cited}'
            f"</span>{html_text(text[end:])}</div></div>")
