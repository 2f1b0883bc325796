"""What a question says besides its topic: its language and kind, and the metadata it names
(a year or date, a ministry, a person), matched against the letters in the index."""
from __future__ import annotations

import re

import numpy as np

from corpus.meta import MONTHS
from index.store import Index

_EN_WORDS = frozenset("the what which who why how when does did do is are was were of and to in on "
                      "for about with by from has have had would should could netherlands dutch "
                      "minister government according".split())
_NL_WORDS = frozenset("de het een en van wat welke wie waarom hoe wanneer is zijn was waren wordt worden "
                      "op in voor met door naar over bij kan kunnen wil willen minister regering "
                      "nederland kabinet".split())
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
_MONTH_YEAR = re.compile(rf"\b({'|'.join(MONTHS)})\s+(1[89]\d\d|20\d\d)\b", re.IGNORECASE)


def language(question: str) -> str:
    """'en' or 'nl', by counting function words; Dutch when unsure."""
    words = re.findall(r"[a-zA-Z]+", question.lower())
    en = sum(w in _EN_WORDS for w in words)
    nl = sum(w in _NL_WORDS for w in words)
    return "en" if en > nl else "nl"


def is_keyword_query(question: str) -> bool:
    """A few search words, no sentence: 'oesterdamsluis liftsluis heroverweging besluit'."""
    words = re.findall(r"\w+", question.lower())
    function = sum(w in _EN_WORDS or w in _NL_WORDS for w in words)
    return not question.rstrip().endswith("?") and function <= 1 and len(words) <= 8


def lexical_weight(question: str) -> float:
    """How much BM25 adds to the dense score: little for English questions (the index is Dutch),
    more for Dutch ones, most for keyword queries."""
    if language(question) == "en":
        return LEXICAL_WEIGHTS["en"]
    return LEXICAL_WEIGHTS["keywords" if is_keyword_query(question) else "nl"]


LEXICAL_WEIGHTS = {"en": 0.03, "nl": 0.08, "keywords": 0.12}
YEAR_BOOST = 0.02


def date_floor(value: str) -> str:
    """'1980' -> '1980-01-01'; an ISO date stays."""
    return value if len(value) > 4 else f"{value}-01-01"


def date_ceiling(value: str) -> str:
    return value if len(value) > 4 else f"{value}-12-31"


def years(question: str) -> set[int]:
    return {int(y) for y in _YEAR.findall(question)}


def metadata_boost(index: Index, question: str) -> np.ndarray | float:
    """A small bonus for passages of letters dated in a year the question names (or the year next to
    it, since letters answer events of the year before)."""
    wanted = years(question)
    if not wanted:
        return 0.0
    if "letter_year" not in index.extra:
        index.extra["letter_year"] = np.array(
            [int(index.letters[p.letter_id].date[:4] or 0) if index.letters[p.letter_id].date else 0
             for p in index.passages])
    letter_year = index.extra["letter_year"]
    boost = np.zeros(len(index.passages), dtype=np.float32)
    for year in wanted:
        boost = np.maximum(boost, np.where(letter_year == year, YEAR_BOOST, 0.0))
        boost = np.maximum(boost, np.where(np.abs(letter_year - year) == 1, YEAR_BOOST / 2, 0.0))
    return boost
