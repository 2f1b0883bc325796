"""Do the letters say it? The decision to answer with the quoted block or to abstain.

One cosine cannot tell an answering passage from a related one (they differ by ~0.01), so the decision
combines evidence of several kinds about the quoted block and its passage: the dense cosine and the
sentence score of the quote, how much of the question's distinctive content words (stems, old spelling
modernised) the passage holds and the weight of the most distinctive one it lacks, whether BM25 agrees
on the passage, the margin to the best passage of another letter, whether a year or number the question
names fits the letter, the search score of the best hit (its passage cosine plus the boosts for a
year, ministry or signer the question names) and how far it stands out from the hits below it. English questions are matched on their cross-lingual cues
(names, numbers, years, look-alike words), as their words are not the letters' words. A small logistic
model weighs them; docs/RETRIEVAL.md has what each signal brings.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from corpus.models import Hit
from index.lexical import analyse
from qa import hints, lookalike
from qa.quote import Quote, coverage, score_drop, term_counts, term_weights
from qa.search import passage_number

ABSTAIN_FEATURES = ("bias", "confidence", "quote_score", "coverage", "coverage_quote", "missing",
                    "bm25_agrees", "margin", "year_fits", "year_misses", "english", "bm25_match", "number_misses",
                    "cognates", "coverage_nl", "coverage_quote_nl", "missing_nl", "bm25_match_nl", "confidence_en",
                    "margin_en", "cognates_en", "search_score", "stand_out", "letter_stand_out",
                    "coverage_letter", "missing_letter")
# Fit by `python eval/answers.py --fit` (answerable dev questions against their answer-left-out variants and
# the written unanswerable questions of eval/unanswerable.jsonl and eval/unanswerable_{nl,en}.jsonl; all of
# them, on standardised features, returned on the raw ones), default index, multilingual-e5-small, hybrid.
ABSTAIN_WEIGHTS = np.array([-34.795, -1.935, 0.314, -0.327, -1.042, -0.039, 0.474, 3.387, 0.451, -2.017, 1.973, -12.722,
                            -0.404, 4.052, 0.581, -0.006, -0.412, 1.168, 2.497, -17.035, -3.54, 37.744, 35.731,
                            -7.434, 1.898, -0.105])
ANSWER_ABOVE = -1.587  # answer when the logit reaches this: abstains on 3% of the answerable dev questions
STAND_OUT_AT = 5  # the best hit's score is compared with the 5th's (`kamerqa ask`'s default k)
BM25_DEPTH = 10  # BM25 agrees when the quoted passage is among its this many best
BM25_K1 = 1.2  # as the lexical index (index/lexical.py): a term's BM25 score stays below (k1 + 1) * idf
_NUMBER = re.compile(r"(?<![\d.,])\d[\d.,]*\d|\b\d\b")
_CUE = re.compile(r"(?<![.?!]\s)(?<!^)\b([A-Z][\w-]{2,}|\d[\d.,]*)")


@dataclass(frozen=True)
class Decision:
    answerable: bool
    score: float  # logit: above ANSWER_ABOVE answers
    features: np.ndarray
    reason: str


def cue_weights(index, question: str) -> dict[str, float]:
    """For an English question, the terms that carry across languages: names, numbers, years."""
    cues = " ".join(_CUE.findall(hints.content_question(question)))
    weights = term_weights(index, question)
    return {t: weights.get(t, 1.0) for t in analyse(cues)}


def evidence(index, question: str, hits: list[Hit], quote: Quote) -> np.ndarray:
    """The features (`ABSTAIN_FEATURES`) of answering `question` with `quote`."""
    hit = hits[quote.rank]
    english = hints.language(question) == "en"
    weights = cue_weights(index, question) if english else term_weights(index, question)
    passage_text = hit.passage.text
    quote_text = hit.letter.text[quote.span[0]:quote.span[1]]
    present = set(analyse(passage_text + " " + hit.letter.title))
    n = term_counts(index)[1]
    missing = max((w for t, w in weights.items() if t not in present), default=0.0) / math.log(1 + n)
    lexical = index.lexical.scores(hints.content_question(question))
    row = passage_number(index, hit.passage)
    bm25_agrees = float(lexical.size > 0 and lexical[row] > 0 and (lexical > lexical[row]).sum() < BM25_DEPTH)
    others = [h.confidence for h in hits if h.letter.id != hit.letter.id and math.isfinite(h.confidence)]
    margin = hit.confidence - max(others) if others else 0.05
    year_fits, year_misses = _years(question, hit)
    dutch_weights = term_weights(index, question)
    ceiling = (BM25_K1 + 1) * sum(dutch_weights.values())
    bm25_match = float(lexical[row]) / ceiling if ceiling and lexical.size else 0.0
    base = [1.0, float(quote.best.features[1]), quote.score, coverage(weights, passage_text + " " + hit.letter.title),
            coverage(weights, quote_text), missing, bm25_agrees, margin, year_fits, year_misses, float(english),
            bm25_match, _number_misses(question, passage_text), cognates(question, passage_text)]
    # lexical evidence speaks for Dutch questions, dense and look-alike evidence for English ones
    dutch, en = 1.0 - float(english), float(english)
    by_language = [base[3] * dutch, base[4] * dutch, base[5] * dutch, base[11] * dutch,
                   base[1] * en, base[7] * en, base[13] * en]
    letter_terms = set(analyse(hit.letter.title + " " + hit.letter.text))
    missing_letter = max((w for t, w in weights.items() if t not in letter_terms), default=0.0) / math.log(1 + n)
    coverage_letter = sum(w for t, w in weights.items() if t in letter_terms) / (sum(weights.values()) or 1.0)
    return np.array(base + by_language + [hits[0].score, *stand_out(hits), coverage_letter, missing_letter])


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
    reason = (f"content words of the question in the passage {f['coverage']:.0%}, cosine {f['confidence']:.3f}, "
              f"margin to the next letter {f['margin']:+.3f}, BM25 {'agrees' if f['bm25_agrees'] else 'disagrees'}"
              + (", the year asked does not fit" if f["year_misses"] else ""))
    return Decision(score >= above, score, features, reason)
