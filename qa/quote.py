"""Which sentences of the top passages answer the question: the quoted block of an answer.

Every sentence of the top hits gets a few features that do not depend on the question set (its
dense cosine to the question, the share of the question's content words it contains, whether it has
what the question's kind asks for: a reason, a number, a date, a name or a decision, how close its
passage's search score comes to the best one's), a small logistic model gives each the chance that it answers, and the run of 1-3
consecutive sentences of one passage that holds the most of that chance is quoted. Letterhead,
references, footnotes, signatures, member lists and tables of contents are never quoted.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from corpus.models import Hit
from index.lexical import analyse
from qa import hints, lookalike, translate
from qa.furniture import after_letterhead, is_furniture, is_title
from qa.search import passage_number, query_vector, sentence_matrix, sentence_rows

QUOTE_FROM = 3  # sentences are taken from this many top hits
MAX_BLOCK_WORDS = 70  # a quoted block: 1-3 consecutive sentences of at most this many words (issue: ~80;
# cross-validated on the dev set, 70 words answer as well as 80 with a median of 60 words instead of 68)
# Weights of the sentence score (logistic: the chance a sentence overlaps a gold quote), in the order of
# `SENTENCE_FEATURES`. Fit by `python eval/answers.py --fit` on all 245 dev questions of
# ../shared/eval/dev_questions.jsonl and eval/dev_{nl,en}.jsonl (its held-out and cross-validated figures
# refit without the questions they measure: docs/RETRIEVAL.md), default index, multilingual-e5-small. "rank" and "letter_rank" are `score_nearness` (not 1/rank); the
# lexical features of an English question count look-alike words (`qa.lookalike`) and words translated by
# the FreeDict dictionaries (`qa.translate`; refit with them in the third round).
SENTENCE_FEATURES = ("bias", "dense", "dense_gap", "lexical", "lexical_near", "kind", "rank", "short",
                     "after_match", "opening", "lexical_beyond_title", "letter_rank")
SENTENCE_WEIGHTS = np.array([-9.15, 1.6, 2.08, 0.66, 1.05, 1.41, 2.72, -0.91, 1.57, -0.09, 1.4, 2.02])
FURTHER_WITHIN = 0.25  # another passage's best sentence is quoted too when its logit is this close (set by hand)
SPREAD_OF = 5  # the rank feature compares a hit's score to the best one's and the 5th's (`kamerqa ask`'s default k)
SHORT_WORDS = 8  # a sentence of fewer words is rarely an answer by itself
OPENING = re.compile(r"\b(Hierbij|Geachte|Hiermede|Bijgaand|In antwoord op|Ter voldoening aan|In vervolg op|"
                     r"bied ik u|zend ik u|doe ik u)\b", re.I)  # a letter's opening: what it sends, not what it says

QUESTION_KINDS = {  # the kind of a question, by its wording (Dutch and English)
    "why": re.compile(r"\b(waarom|why|om welke reden|for what reason|reden|reason|waartoe|doel|purpose|aim)\b", re.I),
    "number": re.compile(r"\b(hoeveel|how (many|much|long|old|often|large|high)|hoe (groot|hoog|veel|lang|breed|oud|vaak)|"
                         r"welk (bedrag|deel|percentage|aantal)|welke (leeftijd|rente)|what (amount|share|percentage|"
                         r"proportion|rate|interest)|at what age|kost|kosten|cost|costs)\b", re.I),
    "when": re.compile(r"\b(wanneer|when|welk \w*jaar|(what|which) year|welke datum|what date|per wanneer|by when|"
                       r"vanaf welk\w*|from (what|which)|termijn|deadline)\b", re.I),
    "who": re.compile(r"\b(wie|namens|who|whom|whose|welke (minister|bewindslieden)|which minister)\b", re.I),
    "decision": re.compile(r"\b(besl\w+|besluit|decide\w*|decision|vastgesteld|gekozen|chose|choose)\b", re.I),
}
KIND_MARKERS = {  # what a sentence needs to answer a question of that kind
    "why": re.compile(r"\b(omdat|teneinde|ten einde|om\s+(\S+\s+){0,12}?te\b|daardoor|daarom|doordat|immers|"
                      r"want|vanwege|zodat|met het oog op|gelet op|reden|doel|because|in order to|so that|aangezien|wegens|opdat|"
                      r"dankzij|als gevolg van|ten gevolge van|in verband met|noodzakelijk|noodzaak|overweging\w*|"
                      r"due to|as a result)\b", re.I),
    "number": re.compile(r"(?<!nr\. )(?<!nr\.)(?<![\d ]\d)\b(?!(1[89]|20)\d\d\b)\d[\d.,]*\b(?!\s*(januari|februari|maart|april|"
                         r"mei|juni|juli|augustus|september|oktober|november|december))|\b(twee|drie|vier|vijf|zes|"
                         r"zeven|acht|negen|tien|twintig|honderd|duizend|miljoen|miljard|procent|helft|kwart)\b", re.I),
    "when": re.compile(rf"\b(1[89]\d\d|20\d\d|{'|'.join(hints.MONTHS)}|voorjaar|najaar|zomer|winter)\b", re.I),
    "who": re.compile(r"\b(minister\w*|staatssecretaris\w*|namens|kabinet|regering|commissie|fractie\w*|"
                      r"ik|wij|[A-Z][a-z]+(-[A-Z][a-z]+)?\s+[A-Z][a-z]+)\b"),
    "decision": re.compile(r"\b(besloten|besluit|beslist|vastgesteld|vast te stellen|stel ik vast|gekozen|"
                           r"heb ik|hebben wij|zal (\S+\s+){0,6}?worden|ben ik voornemens|decided)\b", re.I),
}
@dataclass(frozen=True)
class Sentence:
    """One candidate sentence: its hit (0-based rank), its number in the passage, its raw span, features."""

    rank: int
    number: int
    span: tuple[int, int]
    features: np.ndarray


@dataclass(frozen=True)
class Quote:
    """A quoted block: consecutive sentences of one hit, with the score of its best sentence."""

    rank: int  # 0-based rank of the hit it comes from
    sentences: tuple[int, ...]
    span: tuple[int, int]  # raw span in the letter, from the first sentence's start to the last's end
    score: float  # logit of the best sentence
    best: Sentence


def question_kinds(question: str) -> tuple[str, ...]:
    """The kinds a question asks for ('why', 'number', 'when', 'who', 'decision'), by its wording."""
    return tuple(kind for kind, pattern in QUESTION_KINDS.items() if pattern.search(question))


def term_counts(index) -> tuple[dict[str, int], int]:
    """Per analysed term, the number of passages holding it; and the number of passages (cached by the searcher)."""
    return index.term_frequency


def term_weights(index, question: str) -> dict[str, float]:
    """The question's content terms (stems, old spelling modernised), each with its idf in the index."""
    df, n = term_counts(index)
    terms = set(analyse(hints.content_question(question)))
    return {t: math.log(1 + n / (1 + df.get(t, 0))) for t in terms}


def coverage(weights: dict[str, float], text: str) -> float:
    """The idf-weighted share of the question's terms that occur in `text` (0 when it has none)."""
    total = sum(weights.values())
    if not total:
        return 0.0
    present = set(analyse(text))
    return sum(w for t, w in weights.items() if t in present) / total


@dataclass(frozen=True)
class QuestionWords:
    """The question's content words and how a text holds them: for a Dutch question its stems weighted by
    idf (`coverage`); for an English one its words that have a Dutch look-alike (`qa.lookalike`) or
    translation (`qa.translate`) in the text, as its stems do not occur in Dutch letters."""

    weights: dict[str, float]  # Dutch: stem -> idf
    asked: tuple[str, ...]  # English: the content words looked for

    @classmethod
    def of(cls, index, question: str) -> "QuestionWords":
        if hints.language(question) == "en":
            return cls({}, lookalike.content_words(hints.content_question(question)))
        return cls(term_weights(index, question), ())

    def __call__(self, text: str) -> float:
        """The share of the question's content words that `text` holds."""
        if self.asked:
            return lookalike.lookalike_share(self.asked, text, translate.dutch_stems)
        return coverage(self.weights, text)

    def beyond(self, title: str) -> "QuestionWords":
        """Only the words the letter's subject `title` does not already hold."""
        if self.asked:
            words = lookalike.text_words(title)
            return QuestionWords({}, tuple(w for w in self.asked if not lookalike.looks_alike(w, words)))
        present = set(analyse(title))
        return QuestionWords({t: w for t, w in self.weights.items() if t not in present}, ())


def _sentence_cosines(index, hit: Hit, q: np.ndarray) -> dict[int, float]:
    """Cosine to the question of each of the hit's sentences that has a vector."""
    if index.sentence_vectors is None:
        return {}
    rows = sentence_rows(index, passage_number(index, hit.passage))
    if not rows.size:
        return {}
    scores = sentence_matrix(index)[rows] @ q
    return {int(index.sentence_owner[r, 1]): float(s) for r, s in zip(rows, scores)}


def score_drop(hits: list[Hit], at: int = SPREAD_OF) -> float:
    """How far the search score falls from the best hit to hit number `at` (1-based); with fewer hits,
    the fall to the last one scaled to `at` hits (so `kamerqa ask -k 3` measures on the same scale as -k 10)."""
    scores = [h.score for h in hits if math.isfinite(h.score)]
    if len(scores) < 2:
        return 0.0
    last = min(len(scores), at)
    return (scores[0] - scores[last - 1]) * (at - 1) / (last - 1)


def score_nearness(hits: list[Hit]) -> list[float]:
    """How close each hit's search score comes to the best one, on the scale of this question's scores:
    1 for the best hit, 0 at (or below) the score of hit SPREAD_OF. A near-tie counts as a tie, where
    1/(rank + 1) would halve the second of two almost equal passages; and the scale is the question's own
    spread of scores, which does not shift with the size of the corpus as raw score gaps do."""
    spread = score_drop(hits)
    if not spread > 0:
        return [1.0] * len(hits)
    return [min(1.0, max(0.0, 1.0 - (hits[0].score - h.score) / spread)) for h in hits]


def candidates(index, question: str, hits: list[Hit]) -> list[Sentence]:
    """Every sentence of the top hits that may be quoted, with its features (`SENTENCE_FEATURES`)."""
    q = query_vector(index, hints.content_question(question))
    share = QuestionWords.of(index, question)
    kinds = question_kinds(question)
    rows = []
    near = score_nearness(hits)
    letter_near = {}  # passages of one letter share its nearness: the letter is what the search ranks first
    for hit, n in zip(hits, near):
        letter_near.setdefault(hit.letter.id, n)
    for rank, hit in enumerate(hits[:QUOTE_FROM]):
        spans = [after_letterhead(hit.letter.text, span) for span in hit.passage.sentences
                 or ((hit.passage.start, hit.passage.end),)]
        texts = [hit.letter.text[s:e] for s, e in spans]
        cosines = _sentence_cosines(index, hit, q)
        beyond_title = share.beyond(hit.letter.title)  # the question words the sentence adds to the letter's subject
        fallback = hit.confidence - 0.03 if math.isfinite(hit.confidence) else 0.0
        for i, (span, text) in enumerate(zip(spans, texts)):
            if is_furniture(text) or is_title(text, hit.letter.title) or len(text.split()) < 3:
                continue
            around = " ".join(texts[max(0, i - 1):i + 2])
            kind = float(any(KIND_MARKERS[k].search(text) for k in kinds)) if kinds else 0.0
            rows.append((rank, i, span, [1.0, cosines.get(i, fallback), 0.0, share(text),
                                         share(around), kind, near[rank],
                                         float(len(text.split()) < SHORT_WORDS), cosines.get(i - 1, 0.0),
                                         float(bool(OPENING.search(text))), beyond_title(text),
                                         letter_near[hit.letter.id]]))
    if not rows:
        return []
    best = max(r[3][1] for r in rows)
    # dense_gap: below the best candidate; after_match: how close the previous sentence came (an answer
    # often follows the sentence that names the topic)
    return [Sentence(rank, i, span, np.array(f[:2] + [f[1] - best] + f[3:8] + [max(f[8] - best, -0.1) + 0.1] + f[9:]))
            for rank, i, span, f in rows]


def sentence_score(sentence: Sentence, weights: np.ndarray = SENTENCE_WEIGHTS) -> float:
    return float(sentence.features @ weights)


def choose_quote(index, question: str, hits: list[Hit], weights: np.ndarray = SENTENCE_WEIGHTS,
                 max_words: int = MAX_BLOCK_WORDS) -> Quote | None:
    """The block to quote from the top hits; None when they have no sentence that may be quoted."""
    return best_block(candidates(index, question, hits), hits, weights, max_words)


def best_block(found: list[Sentence], hits: list[Hit], weights: np.ndarray = SENTENCE_WEIGHTS,
               max_words: int = MAX_BLOCK_WORDS) -> Quote | None:
    """Of all runs of 1-3 consecutive candidate sentences of one hit within `max_words` words (a single
    sentence may be longer), the one whose sentences' chances of answering add up to the most."""
    if not found:
        return None
    position = {(s.rank, s.number): n for n, s in enumerate(found)}
    logits = np.array([sentence_score(s, weights) for s in found])
    chances = 1 / (1 + np.exp(-logits))
    best_run, best_mass = [0], -1.0
    for s in found:
        run, words = [], 0
        for step in range(3):
            m = position.get((s.rank, s.number + step))
            if m is None or (run and not _adjacent(hits[s.rank].letter.text, found[run[-1]], found[m])):
                break
            words += len(hits[s.rank].letter.text[slice(*found[m].span)].split())
            if run and words > max_words:
                break
            run.append(m)
            if chances[run].sum() > best_mass:
                best_run, best_mass = list(run), float(chances[run].sum())
    top = max(best_run, key=lambda m: logits[m])
    first, last = found[best_run[0]], found[best_run[-1]]
    return Quote(first.rank, tuple(found[m].number for m in best_run), (first.span[0], last.span[1]),
                 float(logits[top]), found[top])


def _adjacent(text: str, before: Sentence, after: Sentence) -> bool:
    """Whether only white space lies between two sentences: a block never spans what chunking left out
    between them (a page's running header, a reference line, a footnote)."""
    return not text[before.span[1]:after.span[0]].strip()


def further_quote(found: list[Sentence], hits: list[Hit], main: Quote,
                  weights: np.ndarray = SENTENCE_WEIGHTS) -> Quote | None:
    """The best sentence of another passage, when it scores within FURTHER_WITHIN of the quote's best
    sentence: a second answer as good as the first is shown rather than dropped."""
    others = [s for s in found if s.rank != main.rank]
    if not others:
        return None
    best = max(others, key=lambda s: sentence_score(s, weights))
    score = sentence_score(best, weights)
    return Quote(best.rank, (best.number,), best.span, score, best) if score >= main.score - FURTHER_WITHIN else None
