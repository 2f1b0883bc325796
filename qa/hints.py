"""What a question says besides its topic: its language and kind, and the metadata it names
(a year or date, a ministry, a person), matched against the letters in the index."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from rapidfuzz import fuzz, process

from corpus.meta import MONTHS, from_minister
from corpus.models import Letter, Passage
from index.lexical import fold

_EN_WORDS = frozenset("the what which who why how when does did do is are was were of and to in on "
                      "for about with by from has have had would should could netherlands dutch "
                      "minister government according".split())
_NL_WORDS = frozenset("de het een en van wat welke wie waarom hoe wanneer is zijn was waren wordt worden "
                      "op in voor met door naar over bij kan kunnen wil willen minister regering "
                      "nederland kabinet".split())
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
_MONTH_YEAR = re.compile(rf"\b({'|'.join(MONTHS)})\s+(1[89]\d\d|20\d\d)\b", re.IGNORECASE)


_DATE_PHRASE = re.compile(
    rf"\b(?:in|rond|around|from|of|van|sinds|since|eind|begin|early|late)?\s*"
    rf"(?:(?:\d{{1,2}}\s+)?(?:{'|'.join(MONTHS)})\s+)?(?:1[89]\d\d|20\d\d)\b",
    re.IGNORECASE)
_OFFICE_PHRASE = re.compile(
    r"\b(?:the|de|het)?\s*(?:Minister|Staatssecretaris|State Secretary)\s+(?:of|van|voor)\s+"
    r"[A-Z][\w-]*(?:\s+(?:en|and|of|van)?\s*[A-Z][\w-]*)*")


def content_question(question: str) -> str:
    """The question without the metadata it names (dates, years, "the Minister of X"): what is left is
    matched against passage text; the metadata itself boosts letters (`metadata_boost`)."""
    stripped = _OFFICE_PHRASE.sub(" ", _DATE_PHRASE.sub(" ", question))
    stripped = re.sub(r"\s+([?.,!])", r"\1", re.sub(r"\s+", " ", stripped)).strip()
    return stripped if len(re.findall(r"\w+", stripped)) >= 2 else question


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


# "en" kept at 0.01 now that English questions' BM25 holds the Dutch translations of their words
# (`qa.translate`): letter Hit@1 / MRR@10 of the 93 English dev questions at 0.01 / 0.02 / 0.03 on the default
# index 0.871 / 0.882 / 0.903 and 0.906 / 0.914 / 0.925, on the large index 0.785 / 0.817 / 0.817 and 0.836 /
# 0.868 / 0.865 (without translations, 0.01: 0.849 / 0.894 and 0.763 / 0.814); but at 0.02 the refit
# abstention abstained on 2 fewer of the 92 unanswerable questions in 5-fold cross-validation (docs/RETRIEVAL.md;
# `PYTHONPATH=. python eval/english_lexical.py --cache DIR [--index DIR]` prints the figures)
LEXICAL_WEIGHTS = {"en": 0.01, "nl": 0.03, "keywords": 0.05}
YEAR_BOOST = 0.02
SENDER_BOOST = 0.01
# kamerqa answers from ministers' letters: in a collection that also holds the Kamer's own papers (reports,
# Handelingen, members' bills and questions), a document that no minister or state secretary sent
# (`corpus.meta.from_minister` of its sender) ranks this far below an equally close letter, as far as a letter
# of the year a question names ranks above the rest (YEAR_BOOST). In a collection of one kind (all sent, or
# none) nothing changes. Chosen on the 245 dev questions (the 50 + eval/dev_{nl,en}.jsonl) on the large index
# (default corpus + sgd/kamerstukken.jsonl), `python -m qa.cli eval --questions ALL --index LARGE`: Hit@1 /
# English MRR@10 at 0, 0.005, 0.01, 0.02, 0.03: 0.792 / 0.805, 0.796 / 0.809, 0.804 / 0.825, 0.812 / 0.833,
# 0.812 / 0.833; on the default index (6 of 419 documents not from a minister) 0.829 / 0.844 at each
# (docs/PERFORMANCE.md).
UNSENT_PENALTY = 0.02
MIN_MINISTRY_CHARS = 6  # "van Justitie": shorter office names are OCR fragments
MINISTRY_MATCH = 90  # rapidfuzz partial ratio of a named ministry to the question (typos still match)
SURNAME_MATCH = 85  # rapidfuzz ratio of a signer's surname to a question word


def date_floor(value: str) -> str:
    """'1980' -> '1980-01-01'; an ISO date stays."""
    return value if len(value) > 4 else f"{value}-01-01"


def date_ceiling(value: str) -> str:
    return value if len(value) > 4 else f"{value}-12-31"


def years(question: str) -> set[int]:
    return {int(y) for y in _YEAR.findall(question)}


ENGLISH_MINISTRIES = {
    "defence": "defensie", "defense": "defensie", "foreign affairs": "buitenlandse zaken",
    "finance": "financien", "justice": "justitie", "education": "onderwijs",
    "economic affairs": "economische zaken", "home affairs": "binnenlandse zaken",
    "interior": "binnenlandse zaken", "agriculture": "landbouw", "health": "volksgezondheid",
    "transport": "verkeer en waterstaat", "public works": "verkeer en waterstaat",
    "social affairs": "sociale zaken", "housing": "volkshuisvesting",
    "development cooperation": "ontwikkelingssamenwerking", "culture": "cultuur",
}
_OFFICE = re.compile(r"(?:minister|staatssecretaris)\s+(?:van|voor)\s+([^()]+?)\s*(?:\(|$)", re.IGNORECASE)


@dataclass(frozen=True)
class LetterFacts:
    """Per passage its letter's year, month and number (numbers, not id strings: at 1M passages comparing
    strings took 1.3 s a question); the letters of each ministry and each signer's name."""

    year: np.ndarray  # int16 per passage (0: no date)
    month: np.ndarray  # int8 per passage
    letter_of: np.ndarray  # int32 per passage: its letter's number in `letter_number`
    ministry: dict[str, list[str]]
    names: dict[str, list[str]]
    letter_number: dict[str, int] = field(default_factory=dict)  # letter id -> number
    unsent: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # per letter: no minister sent it

    @property
    def surnames(self) -> list[str]:
        return list(self.names)

    def marked(self, letter_ids) -> np.ndarray:
        """Per letter (by number): whether its id is one of `letter_ids`; an id of no letter here is passed over."""
        found = np.zeros(len(self.letter_number), dtype=bool)
        found[[self.letter_number[i] for i in letter_ids if i in self.letter_number]] = True
        return found


def letter_facts(letters: dict[str, Letter], passages: list[Passage]) -> LetterFacts:
    ministries: dict[str, list[str]] = {}
    names: dict[str, list[str]] = {}
    dates, unsent = [], []  # letters read from disk are read once
    for letter in letters.values():
        dates.append(letter.date)
        unsent.append(not from_minister(letter.sender))
        m = _OFFICE.search(letter.sender)
        if m and len(m.group(1)) >= MIN_MINISTRY_CHARS:
            ministries.setdefault(fold(m.group(1)), []).append(letter.id)
        signer = re.search(r"\(([^)]+)\)", letter.sender)
        for word in re.findall(r"[A-Za-zÀ-ÿ]{4,}", signer.group(1)) if signer else ():
            names.setdefault(fold(word), []).append(letter.id)
    number = getattr(letters, "numbers", None) or {letter_id: i for i, letter_id in enumerate(letters)}
    year = np.array([int(d[:4]) if d[:4].isdigit() else 0 for d in dates], dtype=np.int16)
    month = np.array([int(d[5:7]) if d[5:7].isdigit() else 0 for d in dates], dtype=np.int8)
    letter_of = getattr(passages, "letter_of", None)  # passages read from disk keep their letters' numbers
    if letter_of is None:
        letter_of = np.fromiter((number[p.letter_id] for p in passages), dtype=np.int32, count=len(passages))
    unsent = np.array(unsent, dtype=bool)
    return LetterFacts(year[letter_of], month[letter_of], letter_of, ministries, names, number, unsent)


def _named_letters(facts: LetterFacts, question: str) -> set[str]:
    """Letters whose ministry or signer the question names (fuzzy, so misspellings still match)."""
    folded = fold(question)
    for en, nl in ENGLISH_MINISTRIES.items():
        folded = folded.replace(en, nl)
    named = set()
    for ministry, letter_ids in facts.ministry.items():
        if fuzz.partial_ratio(ministry, folded) >= MINISTRY_MATCH:
            named.update(letter_ids)
    for word in set(re.findall(r"[a-z]{4,}", folded)):
        for surname, _, _ in process.extract(word, facts.surnames, scorer=fuzz.ratio, score_cutoff=SURNAME_MATCH,
                                             limit=5):
            named.update(facts.names[surname])
    return named


def metadata_boost(index, question: str) -> np.ndarray | float:
    """A small bonus for passages of letters that fit what the question names: a year (or the year
    next to it, since letters answer events of the year before), a month and year, a ministry, a signer;
    and a small penalty for documents that no minister or state secretary sent (`UNSENT_PENALTY`)."""
    facts: LetterFacts = index.facts
    boost = np.zeros(len(index.passages), dtype=np.float32)
    for year in years(question):
        boost = np.maximum(boost, np.where(facts.year == year, YEAR_BOOST, 0.0))
        boost = np.maximum(boost, np.where(np.abs(facts.year - year) == 1, YEAR_BOOST / 2, 0.0))
    for month, year in _MONTH_YEAR.findall(question):
        hit = (facts.year == int(year)) & (facts.month == MONTHS[month.lower()])
        boost += np.where(hit, YEAR_BOOST / 2, 0.0)
    named = _named_letters(facts, question)
    if named:
        boost += np.where(facts.marked(named)[facts.letter_of], SENDER_BOOST, 0.0)
    if facts.unsent.any() and not facts.unsent.all():  # last: the year's maximum above must not undo it
        boost -= np.float32(UNSENT_PENALTY) * facts.unsent[facts.letter_of]  # one gather (~2.5 ms at 1M)
    return boost
