"""Do the letters say it? The decision to answer with the quoted block or to abstain.

One cosine cannot tell an answering passage from a related one (they differ by ~0.01), so the decision
combines evidence measured the same way for Dutch and English questions: the dense cosine of the quote and
of its passage, the search score of the best hit (its passage cosine plus the boosts for a year, ministry or
signer the question names), how far the best hit stands out from the hits below it and from the best of
another letter, the margin of the quote's passage to another letter, the sentence score of the quote, whether
a year or number the question names fits the letter, and the share of the question's longer words with a
look-alike in the passage (across languages and spellings). Lexical evidence that only a Dutch question has
(the idf-weighted coverage of its stems, its BM25 match) enters as extra evidence when present, and a
question's language only shifts the bias. A small logistic model weighs them, each weight with the sign its
evidence must have (`ABSTAIN_SIGNS`), fit with both languages and both classes weighted alike;
docs/RETRIEVAL.md has what each signal brings and the held-out figures.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from corpus.models import Hit
from qa import hints, lookalike
from qa.quote import Quote, coverage, score_drop, term_weights
from qa.search import passage_number, query_vector

ABSTAIN_FEATURES = ("bias", "confidence", "passage_cosine", "search_score", "stand_out", "letter_stand_out", "margin",
                    "quote_score", "year_fits", "year_misses", "number_misses", "cognates", "coverage_nl",
                    "bm25_match_nl", "english")
# +1: evidence that the letters answer (its weight may not be negative); -1: evidence against; 0: free
ABSTAIN_SIGNS = np.array([0, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, 1, 1, 1, 0])
# Fit by `python eval/answers.py --fit` (answerable dev questions against their answer-left-out variants and
# the written unanswerable questions of eval/unanswerable.jsonl and eval/unanswerable_{nl,en}.jsonl; all of
# them, on standardised features with `ABSTAIN_SIGNS`, Dutch/English x answerable/not weighted alike, returned
# on the raw ones), default index, multilingual-e5-small, hybrid.
ABSTAIN_WEIGHTS = np.array([-35.031, 0.0, 0.0, 37.503, 25.986, 0.0, 0.0, 0.344, 0.0, -2.421, -0.086, 0.966, 1.4, 0.0,
                            3.311])
ANSWER_ABOVE = -1.186  # answer when the logit reaches this: abstains on 3% of the answerable dev questions
STAND_OUT_AT = 5  # the best hit's score is compared with the 5th's (`kamerqa ask`'s default k)
BM25_K1 = 1.2  # as the lexical index (index/lexical.py): a term's BM25 score stays below (k1 + 1) * idf
_NUMBER = re.compile(r"(?<![\d.,])\d[\d.,]*\d|\b\d\b")


@dataclass(frozen=True)
class Decision:
    answerable: bool
    score: float  # logit: above ANSWER_ABOVE answers
    features: np.ndarray
    reason: str


def evidence(index, question: str, hits: list[Hit], quote: Quote) -> np.ndarray:
    """The features (`ABSTAIN_FEATURES`) of answering `question` with `quote`."""
    hit = hits[quote.rank]
    dutch = float(hints.language(question) != "en")
    content = hints.content_question(question)
    row = passage_number(index, hit.passage)
    passage_cosine = float(index.passage_matrix[row] @ query_vector(index, content))
    others = [h.confidence for h in hits if h.letter.id != hit.letter.id and math.isfinite(h.confidence)]
    margin = hit.confidence - max(others) if others else 0.05
    weights = term_weights(index, question)
    lexical = index.lexical.scores(content)
    ceiling = (BM25_K1 + 1) * sum(weights.values())
    bm25_match = float(lexical[row]) / ceiling if ceiling and lexical.size else 0.0
    return np.array([1.0, float(quote.best.features[1]), passage_cosine, hits[0].score, *stand_out(hits), margin,
                     quote.score, *_years(question, hit), _number_misses(question, hit.passage.text),
                     cognates(question, hit.passage.text),
                     dutch * coverage(weights, hit.passage.text + " " + hit.letter.title), dutch * bm25_match,
                     1.0 - dutch])


def stand_out(hits: list[Hit]) -> tuple[float, float]:
    """How far the best hit stands out from the rest for this question: its search score minus the score
    of hit STAND_OUT_AT (`score_drop`), and minus the best score of another letter. A question the letters answer has a
    passage (often several, of one letter) well above the rest; one they cannot answer gets a flat run of
    related passages. Unlike the best score itself, which grows with the number of passages (the best of
    more distractors), these gaps barely shift with the size of the corpus."""
    scores = [h.score for h in hits if math.isfinite(h.score)]
    if len(scores) < 2:
        return 0.0, 0.0
    other = max((h.score for h in hits if h.letter.id != hits[0].letter.id and math.isfinite(h.score)), default=scores[-1])
    return score_drop(hits, STAND_OUT_AT), scores[0] - other


def cognates(question: str, text: str) -> float:
    """The share of the question's longer content words that have a look-alike in `text`
    (`qa.lookalike`: 'migration' ~ 'migratie', 'secondary' ~ 'secundaire', 'pension' ~ 'pensioen'). Works
    across English and Dutch and across spelling variants, where stems do not."""
    return lookalike.lookalike_share(lookalike.content_words(hints.content_question(question)), text)


def _number_misses(question: str, passage_text: str) -> float:
    """1 when the question names a number (not a year) that the passage does not hold."""
    asked = {n for n in _NUMBER.findall(hints.content_question(question)) if not hints.years(n)}
    digits = re.sub(r"[\s.]", "", passage_text)
    return float(bool(asked) and not any(re.sub(r"[.]", "", n) in digits for n in asked))


def _years(question: str, hit: Hit) -> tuple[float, float]:
    """(1, 0) when a year the question names fits the letter (its year, the year after, or in the
    passage), (0, 1) when none fits, (0, 0) when the question names no year."""
    asked = hints.years(question)
    if not asked:
        return 0.0, 0.0
    letter_year = int(hit.letter.date[:4]) if hit.letter.date[:4].isdigit() else None
    fits = any(str(y) in hit.passage.text or (letter_year is not None and abs(letter_year - y) <= 1) for y in asked)
    return (1.0, 0.0) if fits else (0.0, 1.0)


def decide(features: np.ndarray, weights: np.ndarray = ABSTAIN_WEIGHTS, above: float = ANSWER_ABOVE) -> Decision:
    """Answer or abstain, with a one-line reason naming the evidence."""
    score = float(features @ weights)
    f = dict(zip(ABSTAIN_FEATURES, features))
    words = (f"look-alike content words of the question in the passage {f['cognates']:.0%}" if f["english"]
             else f"content words of the question in the passage {f['coverage_nl']:.0%}")
    reason = (f"{words}, cosine {f['confidence']:.3f}, stands out {f['stand_out']:+.3f} above hit {STAND_OUT_AT}, "
              f"margin to the next letter {f['margin']:+.3f}" + (", the year asked does not fit" if f["year_misses"] else ""))
    return Decision(score >= above, score, features, reason)
