"""Where each gold quote of a question set stands in its letter: an exact match on normalised text
(hyphenation, soft hyphens and line breaks folded), else a fuzzy one (rapidfuzz)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz

from corpus.models import Letter
from qa.questions import Problem, Question

QUOTE_THRESHOLD = 90.0  # rapidfuzz partial_ratio (0-100) on normalised text for a fuzzy quote match


@dataclass(frozen=True)
class GoldSpan:
    """A located gold answer: a letter and a raw-text span, or the whole letter (start/end None)."""

    doc_id: str
    start: int | None = None
    end: int | None = None



_HYPHEN_OR_SPACE = re.compile(r"[-\u00ad\u00ac]\s*|\s+")


def _normalise(text: str) -> tuple[str, list[int]]:
    """Lower-case, hyphens (and the breaks after them) dropped, whitespace runs made one space.

    Returns the normalised text and, for each of its characters, the raw index it came from.
    """
    chars, where, pos = [], [], 0
    for match in _HYPHEN_OR_SPACE.finditer(text):
        chars.extend(text[pos:match.start()].lower())
        where.extend(range(pos, match.start()))
        if match.group()[0].isspace():
            chars.append(" ")
            where.append(match.start())
        pos = match.end()
    chars.extend(text[pos:].lower())
    where.extend(range(pos, len(text)))
    return "".join(chars), where


def locate_quote(text: str, quote: str, threshold: float = QUOTE_THRESHOLD) -> tuple[int, int] | None:
    """The raw (start, end) of `quote` in `text`: exact if it occurs, else the best rapidfuzz
    alignment after normalisation (line breaks, hyphenation, case), or None below `threshold`."""
    start = text.find(quote)
    if start >= 0:
        return start, start + len(quote)
    norm_text, where = _normalise(text)
    norm_quote = _normalise(quote)[0].strip()
    if not norm_quote or not norm_text:
        return None
    start = norm_text.find(norm_quote)
    if start >= 0:
        return where[start], where[start + len(norm_quote) - 1] + 1
    alignment = fuzz.partial_ratio_alignment(norm_quote, norm_text, score_cutoff=threshold)
    if alignment is None or alignment.dest_end <= alignment.dest_start:
        return None
    return where[alignment.dest_start], where[alignment.dest_end - 1] + 1


def resolve_gold(questions: tuple[Question, ...], letters: dict[str, Letter],
                 threshold: float = QUOTE_THRESHOLD) -> tuple[dict[str, tuple[GoldSpan, ...]], list[Problem]]:
    """Locate every answer; unknown letters and unlocatable quotes are problems, not misses.

    A question with no answer left is not scored; its last problem says so.
    """
    gold, problems = {}, []
    for q in questions:
        spans, errors = [], []
        for answer in q.answers:
            letter = letters.get(answer.doc_id)
            if letter is None:
                errors.append(f"letter {answer.doc_id} is not in the index")
            elif answer.quote is None:
                spans.append(GoldSpan(answer.doc_id))
            elif (span := locate_quote(letter.text, answer.quote, threshold)) is None:
                errors.append(f"quote not found in letter {answer.doc_id} (no match scoring {threshold:g}/100 or more)")
            else:
                spans.append(GoldSpan(answer.doc_id, *span))
        if spans:
            gold[q.id] = tuple(spans)
        endings = ["answer skipped"] * len(errors)
        if errors and not spans:
            endings[-1] = "question skipped"
        problems += [Problem(q.source, q.line, f"question {q.id}: {e}; {end}") for e, end in zip(errors, endings)]
    return gold, problems
