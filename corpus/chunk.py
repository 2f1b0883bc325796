"""Cut a letter into passages: whole sentences, within a paragraph, sized for the embedding model.

Letterhead and address blocks (everything up to the salutation, date or subject line that opens the
letter's body) are kept out; so are signature-only and furniture lines, which `clean` drops.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from corpus.clean import Cleaned, clean_letter
from corpus.models import Letter, Passage


@dataclass(frozen=True)
class ChunkSettings:
    """Passage size in words: a passage grows by whole sentences up to `target_words`; a single
    sentence longer than `max_words` is cut at a clause boundary."""

    target_words: int = 250  # chosen by measurement: docs/RETRIEVAL.md
    max_words: int = 320  # ~450 tokens: inside multilingual-e5-small's 512
    min_words: int = 80  # a shorter paragraph joins the next one

    def as_dict(self) -> dict:
        return {"target_words": self.target_words, "max_words": self.max_words, "min_words": self.min_words}


_ABBREVIATIONS = {
    "nr", "nrs", "art", "artt", "blz", "bijv", "bv", "o.a", "e.d", "enz", "etc", "jl", "a.s", "m.b.t",
    "t.a.v", "i.v.m", "z.g", "zgn", "ca", "resp", "mr", "dr", "drs", "ir", "ing", "prof", "mevr", "dhr",
    "jhr", "st", "stb", "stcrt", "trb", "vgl", "p", "pag", "o.m", "c.q", "d.d", "e.a", "ged", "no",
    "dec", "jan", "febr", "aug", "sept", "okt", "nov", "m.i.v", "i.c", "t.z.t", "z.i", "mln", "mld", "fl",
    "e.g", "i.e", "vs", "mrd", "min", "kamerstuk", "kamerstukken", "h", "lid", "v", "vz", "hfdst",
}
_BOUNDARY = re.compile(r"[.!?]['\")»”]*\s+(?=[\"'(«“]?[A-Z0-9À-Ý])|[;:]\s+(?=[-•–]\s)|\s+(?=[-•–]\s+[A-Za-z])")
# Lines that open a letter's body: everything before the last of them (in the head) is letterhead.
_BODY_OPENERS = re.compile(
    r"^\s*\**(?:Aan de (?:Voorzitter|Heer Voorzitter)|['’]?\s?[A-Z][\w'’ -]{2,30},?\s+\d{1,2}\s*[a-z]{3,9}\s+\d{4}\.?\s*$"
    r"|(?:Den Haag|'s-Gravenhage|’s-Gravenhage)\b.{0,30}\d{4}"
    r"|Datum\b|Onderwerp\b|BRIEF VAN\b|Nr\.?\s*\d+\s*$|Geachte\b|Hoogedelgestrenge Heer)",
    re.IGNORECASE,
)


_SIGNATURE = re.compile(
    r"^\s*De\s+(?:Minister|Staatssecretaris|Minister-President|Eerste Minister)\b[^.]{0,150},", re.IGNORECASE)


def is_signature(para: Cleaned) -> bool:
    """'De Minister van Verkeer en Waterstaat, J. Jansen': who signed, not what the letter says."""
    return bool(_SIGNATURE.match(para.text)) and len(para.text.split()) <= 25


def content_paragraphs(paragraphs: list[Cleaned]) -> list[Cleaned]:
    """The body's paragraphs without signature blocks (the office line and the signer's name under it)."""
    body = paragraphs[body_start(paragraphs):]
    out = []
    for i, para in enumerate(body):
        after_signature = i and is_signature(body[i - 1]) and body[i - 1].text.rstrip().endswith(",")
        if is_signature(para) or (after_signature and len(para.text.split()) <= 6):
            continue
        out.append(para)
    return out


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence in cleaned text; abbreviations, initials and numbers don't end one."""
    spans, start = [], 0
    for m in _BOUNDARY.finditer(text):
        before = text[max(0, m.start() - 12):m.start() + 1]
        word = re.search(r"([\w.]+)[.]$", before)
        if word and text[m.start()] == ".":
            w = word.group(1).lower().rstrip(".")
            if w in _ABBREVIATIONS or len(w) == 1 or w.replace(".", "").isdigit() and len(w) <= 2:
                continue
        end = m.end()
        while end > start and text[end - 1] == " ":
            end -= 1
        if end > start:
            spans.append((start, end))
        start = m.end()
    if start < len(text) and text[start:].strip():
        spans.append((start, len(text)))
    return spans


def _cut_long(text: str, span: tuple[int, int], max_words: int) -> list[tuple[int, int]]:
    """Cut one overlong sentence at commas or semicolons into pieces of at most max_words words."""
    s, e = span
    if len(text[s:e].split()) <= max_words:
        return [span]
    pieces, start, words = [], s, 0
    for m in re.finditer(r"\S+", text[s:e]):
        words += 1
        if words >= max_words * 0.6 and m.group().endswith((",", ";", ":")) or words >= max_words:
            pieces.append((start, s + m.end()))
            start, words = s + m.end() + 1, 0
    if start < e:
        pieces.append((start, e))
    return [p for p in pieces if p[0] < p[1]]


def body_start(paragraphs: list[Cleaned]) -> int:
    """Index of the first body paragraph: after the last letterhead line before the first long paragraph."""
    start = 0
    for i, para in enumerate(paragraphs[:60]):
        if len(para.text.split()) >= 40:
            break
        if _BODY_OPENERS.match(para.text):
            start = i + 1
    return start if start < len(paragraphs) else 0


def chunk_letter(letter: Letter, settings: ChunkSettings = ChunkSettings()) -> list[Passage]:
    """The letter's body as passages, in reading order."""
    paragraphs = clean_letter(letter.text)
    body = content_paragraphs(paragraphs)
    passages: list[Passage] = []
    pending: list[tuple[int, Cleaned, tuple[int, int]]] = []  # (paragraph number, paragraph, span)

    last_parts: list = []

    def flush():
        if pending:
            passages.append(_passage(letter, pending))
            last_parts[:] = pending
            pending.clear()

    for number, para in enumerate(body, start=1):
        sentences = [p for span in split_sentences(para.text) for p in _cut_long(para.text, span, settings.max_words)]
        for span in sentences:
            words = len(para.text[span[0]:span[1]].split())
            size = sum(len(pp.text[s:e].split()) for _, pp, (s, e) in pending)
            starts_paragraph = span == sentences[0]
            too_big = size + words > settings.target_words and size > 0
            new_paragraph = starts_paragraph and size >= settings.min_words
            if pending and (too_big or new_paragraph):
                flush()
            pending.append((number, para, span))
    if pending and passages and passages[-1].letter_id == letter.id:
        size = sum(len(pp.text[a:b].split()) for _, pp, (a, b) in pending)
        if size < settings.min_words:  # a short tail (a last line, a footnote) joins the passage before
            passages.pop()
            pending[:0] = last_parts
    flush()
    return passages


def _passage(letter: Letter, parts: list[tuple[int, Cleaned, tuple[int, int]]]) -> Passage:
    raw_spans = tuple(para.raw_span(s, e) for _, para, (s, e) in parts)
    start, end = raw_spans[0][0], raw_spans[-1][1]
    texts = [para.text[s:e] for _, para, (s, e) in parts]
    search_text = " ".join(texts)
    clean_spans, offset = [], 0
    for text in texts:
        clean_spans.append((offset, offset + len(text)))
        offset += len(text) + 1
    return Passage(
        letter_id=letter.id,
        paragraph=parts[0][0],
        start=start,
        end=end,
        text=letter.text[start:end],
        search_text=search_text,
        sentences=raw_spans,
        clean_sentences=tuple(clean_spans),
        sentence_paragraphs=tuple(number for number, _, _ in parts),
    )
