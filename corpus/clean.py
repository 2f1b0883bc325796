"""Clean a letter's raw text for search without losing the way back.

The raw text is split into paragraphs; each paragraph becomes a `Cleaned` text whose every character
remembers the raw offset it came from. Cleaning joins words that OCR or line wrapping split with a
hyphen ("economi-\\nsche", "economi-sche" -> "economische") while real compounds keep theirs
("Noord-Holland", "EU-Turkije", "zee-egel"), drops soft hyphens, page headers and footers and Markdown
markup, and re-flows wrapped lines. Old spelling is left alone here: that is the lexical analyser's
business (search only, never display).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

SOFT_HYPHEN = "\u00ad"

# Lines that are page furniture, not content.
_FURNITURE = re.compile(
    r"""^\s*(?:
        .*\bISSN\s?\d.* |
        .*\bSDU\ uitgeverij\b.* |
        ['’]?\s?s-Gravenhage\ \d{4} |
        kst-\d[\w-]* .* |
        (?:Tweede|Eerste)\s?Kamer,?\s?(?:zitting|vergaderjaar)\b.* |
        (?:\d{1,2}|['’`*x¹²³)])?\s*(?:Ter\ inzage\ gelegd|Nedergelegd\ ter\ griffie)\b.{0,160} |  # "laid for inspection"
        .{0,40}\b\d{1,3}\s+vel\b.{0,40} |              # printer's sheet count ("S-O+W 5 vel")
        [ivxlcdm]+ |                       # roman page numbers
        [-–—]?\s*\d{1,4}\s*[-–—]? |        # page numbers
        \*{3,}|-{3,}|_{3,} |               # rules
        (?:sdu|SDU)\b.{0,40}
    )\s*$""",
    re.VERBOSE | re.IGNORECASE,
)
_MARKUP = re.compile(
    r"<sup>[^<]{0,12}</sup>|</?[a-z][a-z0-9]*(?:\s[^>]{0,200})?>|__|\*+(?=\S)|(?<=\S)\*+"
    r"|^\s*>\s?|^\s*#{1,6}\s|\]\([^)\s]{1,300}\)|\[(?=[^\]]{1,300}\]\()",
    re.MULTILINE,
)
_HYPHEN_WORD = re.compile(r"(?<!\w)(\w+)-(\n?)(\w+)")  # (?<!\w): linear, not quadratic, on long words
_SENTENCE_END = re.compile(r"[.!?:;]['\")»]?\s*$")
_KEEP_AFTER_HYPHEN = {"en", "of", "tot", "noch"}  # "compagnies-en" is "compagnies- en"


@dataclass(frozen=True)
class Cleaned:
    """Cleaned text plus, for every character, the raw offset it stands for."""

    text: str
    offsets: tuple[int, ...]

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        """The raw span covering cleaned characters [start, end)."""
        return self.offsets[start], self.offsets[end - 1] + 1


@lru_cache(maxsize=200_000)
def zipf(word: str) -> float:
    """How common a Dutch word is (wordfreq's Zipf scale: 0 unknown, 3 once a million words, 7 'de')."""
    from wordfreq import zipf_frequency

    return zipf_frequency(word.lower(), "nl")


def is_word(word: str) -> bool:
    return zipf(word) >= 1.0


def should_join(left: str, right: str) -> bool:
    """Whether `left-right` is one word split by hyphenation rather than a compound with a hyphen."""
    if right[:1].isupper() and not right.isupper():
        return False  # Noord-Holland, EU-Turkije, niet-Nederlands
    if left.isdigit() or right.isdigit() or right.lower() in _KEEP_AFTER_HYPHEN:
        return False
    if not is_word(left + right):
        return False
    # both halves common words and the whole rare: a compound written with a hyphen (lid-staten)
    return not (zipf(left) >= 3.0 and zipf(right) >= 3.0 and min(len(left), len(right)) >= 3
                and zipf(left + right) < 3.0)


def split_lines(raw: str) -> list[tuple[int, int]]:
    """(start, end) of each line, without its newline."""
    spans, start = [], 0
    for m in re.finditer(r"\n", raw):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(raw)))
    return spans


def is_furniture(line: str) -> bool:
    return bool(_FURNITURE.match(line))


def _is_wrapped(raw: str, lines: list[tuple[int, int]]) -> bool:
    """Text wrapped at a fixed width (pdftotext, e-mail) rather than one line a paragraph (OCR JSON):
    many of its lines run on into a next line that starts in lower case."""
    texts = [raw[s:e].strip() for s, e in lines]
    long_lines = [(i, t) for i, t in enumerate(texts) if len(t) > 20]
    if len(long_lines) < 5:
        return False
    runs_on = sum(1 for i, t in long_lines if i + 1 < len(texts) and texts[i + 1][:1].islower())
    return runs_on >= 0.25 * len(long_lines)


def paragraphs(raw: str) -> list[list[tuple[int, int]]]:
    """Group content lines into paragraphs: lists of raw line spans.

    A blank line always ends a paragraph. In wrapped text a line also ends one when it ends a sentence
    and is clearly shorter than the wrap width, or when the next line starts a list item; in text
    that has one line a paragraph, every line is its own.
    """
    lines = split_lines(raw.replace("\r", " "))
    wrapped = _is_wrapped(raw, lines)
    width = max((e - s for s, e in lines), default=0)
    out, current = [], []
    for i, (s, e) in enumerate(lines):
        line = raw[s:e]
        if not line.strip() or is_furniture(line):
            if current and not line.strip():
                out.append(current)
                current = []
            continue
        current.append((s, e))
        nxt = raw[lines[i + 1][0]:lines[i + 1][1]] if i + 1 < len(lines) else ""
        continues = bool(re.search(r"\w[-\u00ad]$", line)) or (
            nxt[:1].islower() and not _SENTENCE_END.search(line))
        ends_here = not continues and (
            not wrapped
            or line.endswith("  ")  # Markdown hard break
            or (_SENTENCE_END.search(line) and (e - s) < 0.75 * min(width, 100))
            or re.match(r"\s*(?:[-•–]\s|\d{1,2}[.)]\s|[a-z][.)]\s)", nxt)
        )
        if ends_here:
            out.append(current)
            current = []
    if current:
        out.append(current)
    return _join_page_breaks(raw, out)


def _join_page_breaks(raw: str, paras: list[list[tuple[int, int]]]) -> list[list[tuple[int, int]]]:
    """A paragraph that stops mid-sentence and one that starts in lower case are one (a page break)."""
    out: list[list[tuple[int, int]]] = []
    for para in paras:
        if out:
            last = raw[out[-1][-1][0]:out[-1][-1][1]].rstrip()
            first = raw[para[0][0]:para[0][1]].lstrip()
            words = sum(len(raw[a:b].split()) for a, b in out[-1])
            stops_mid_sentence = last and not _SENTENCE_END.search(last) and words >= 12
            if stops_mid_sentence and (first[:1].islower() or len(last) > 30):
                out[-1] = out[-1] + para
                continue
        out.append(para)
    return out


def clean_paragraph(raw: str, line_spans: list[tuple[int, int]]) -> Cleaned:
    """Join the paragraph's lines into one cleaned text with raw offsets."""
    chars: list[str] = []
    offs: list[int] = []
    for i, (s, e) in enumerate(line_spans):
        if i:
            prev_end = line_spans[i - 1][1]
            if chars and chars[-1] in "-" + SOFT_HYPHEN and _joins_across(chars, raw, s, e):
                chars.pop()
                offs.pop()
            elif chars and chars[-1] != " ":
                chars.append(" ")
                offs.append(prev_end)  # the newline stands for the space
        for j in range(s, e):
            chars.append(raw[j])
            offs.append(j)
    return _tidy("".join(chars), offs)


def _joins_across(chars: list[str], raw: str, s: int, e: int) -> bool:
    """A hyphen at a line end followed by the rest of a word at the next line's start."""
    if chars[-1] == SOFT_HYPHEN:
        return True
    left = re.search(r"(\w+)$", "".join(chars[-40:-1]))
    right = re.match(r"\w+", raw[s:e].lstrip())
    return bool(left and right and should_join(left.group(1), right.group(0)))


def _tidy(text: str, offs: list[int]) -> Cleaned:
    """Drop soft hyphens, markup and split-word hyphens; fold white space."""
    drop = set()
    for i, ch in enumerate(text):
        if ch == SOFT_HYPHEN:
            drop.add(i)
    for m in _MARKUP.finditer(text):
        drop.update(range(m.start(), m.end()))
    for m in _HYPHEN_WORD.finditer(text):
        if not m.group(2) and should_join(m.group(1), m.group(3)):
            drop.add(m.start(2) - 1)
    out_chars, out_offs = [], []
    for i, ch in enumerate(text):
        if i in drop:
            continue
        if ch.isspace():
            if not out_chars or out_chars[-1] == " ":
                continue
            ch = " "
        out_chars.append(ch)
        out_offs.append(offs[i])
    while out_chars and out_chars[-1] == " ":
        out_chars.pop()
        out_offs.pop()
    return Cleaned("".join(out_chars), tuple(out_offs))


def clean_letter(raw: str) -> list[Cleaned]:
    """The letter's paragraphs, cleaned, with raw offsets; empty paragraphs are left out."""
    out = []
    for spans in paragraphs(raw):
        cleaned = clean_paragraph(raw, spans)
        if re.search(r"\w", cleaned.text):
            out.append(cleaned)
    return out
