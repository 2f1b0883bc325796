"""Find the passages that answer a question.

Retrievers, by name (`RETRIEVERS`):
  dense    cosine of the question to each passage vector (multilingual-e5-small)
  sentence a passage scored by its best-matching sentence and by itself (dense)
  bm25     BM25 over the Dutch analyser (stemming, old spelling, typo expansion)
  hybrid   sentence-level dense plus BM25, weighted by what the question is (the default)
Every retriever takes the same filters (date range, sender, dossier) and the hints the question itself
gives (a year, a ministry or person), and returns `Hit`s, best first.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from corpus.models import Hit
from index.store import IndexError_
from qa import hints, lookalike, translate
from qa.searcher import Searcher, cosines, is_exact, open_searcher

MAX_QUESTION_CHARS = 2000
PLAIN = "-plain"
DEFAULT_RETRIEVER = "hybrid"


class QuestionError(ValueError):
    """A question that cannot be searched; the message says why and what to do."""


@dataclass(frozen=True)
class Filters:
    date_from: str = ""  # ISO date or year, inclusive
    date_to: str = ""
    sender: str = ""  # part of the sender (case-insensitive), e.g. "Verkeer en Waterstaat" or "Harbers"
    dossier: str = ""  # e.g. "29 515" (spaces optional)
    letters: tuple[str, ...] = ()  # letter ids (a follow-up about "that letter"); empty: all
    exclude_letters: tuple[str, ...] = ()  # letter ids left out (eval: "the answer left out")

    def describe(self) -> str:
        parts = []
        if self.date_from or self.date_to:
            parts.append(f"dated {self.date_from or '…'} to {self.date_to or '…'}")
        if self.sender:
            parts.append(f"from senders matching '{self.sender}'")
        if self.dossier:
            parts.append(f"in dossier {self.dossier}")
        if self.letters:
            parts.append(f"in letter {', '.join(self.letters)}")
        if self.exclude_letters:
            parts.append(f"without letters {', '.join(self.exclude_letters)}")
        return ", ".join(parts)


open_index = open_searcher  # the name callers know


def check_question(question: str) -> str:
    """The question, stripped; raises QuestionError for one that cannot be searched."""
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    question = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", question).strip()
    if not question:
        raise QuestionError("the question is empty; type a question, e.g. 'Wat wil Nederland met het GEAS?'")
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question has {len(question)} characters; ask it in at most {MAX_QUESTION_CHARS}")
    if not re.search(r"\w", question):
        raise QuestionError("the question has no words, only punctuation; type a question in words")
    return question


# ---- scores for every passage -------------------------------------------------------------------

CANDIDATES = 1000  # passages (and sentences) an approximate index hands on for scoring
SENTENCE_NPROBE = 512  # IVF lists probed for sentences, set at search time (indexes store 128). Large index
# (96,865 sentences, 1,244 lists), 245 dev questions: top 10 the same as with exact sentences 95.7 % at 128,
# 97.7 % at 256, 98.8 % at 512, +1.7 ms a search (bench/sentence_ann.py; docs/PERFORMANCE.md, quality at scale)
PASSAGE_NPROBE = 512  # the same for an IVF passage index: at 1M passages (4,000 lists) the top 10 of hybrid
# search were exact search's for 94.0 % of hits at 128, 95.5 % at 512, 96.0 % at 1,024; p95 75-95 ms at 512
# (bench/scale_million.py; docs/PERFORMANCE.md, search() at 1M)
PASSAGE_SHARE = 0.5  # sentence retriever: passage cosine x this + best sentence's x (1 - this); dev set, docs/RETRIEVAL.md


def passage_number(index: Searcher, passage) -> int:
    """The passage's row in the index (its vector's row)."""
    return index.passage_numbers[passage.id]


def sentence_matrix(index: Searcher):
    return index.sentence_matrix


def sentence_rows(index: Searcher, passage: int) -> np.ndarray:
    """Rows of the sentence vectors of passage number `passage`."""
    bounds = index.sentence_bounds
    return np.arange(bounds[passage], bounds[passage + 1])


def hit_confidence(index: Searcher, passages: np.ndarray, q: np.ndarray) -> np.ndarray:
    """How well each passage answers, comparably across questions: the cosine of its best sentence to
    the question (the passage's own where it has no sentence vectors). Abstention uses it."""
    own = cosines(index.passage_matrix[passages], q)
    if index.sentence_vectors is None:
        return own
    out = own.copy()
    for n, i in enumerate(passages):
        best = best_sentence_row(index, int(i), q)
        if best is not None:
            out[n] = best[1]
    return out


def best_sentence_row(index: Searcher, passage: int, q: np.ndarray) -> tuple[int, float] | None:
    """(row in the sentence vectors, cosine) of passage number `passage`'s sentence closest to `q`;
    None when it has no sentence vectors."""
    rows = sentence_rows(index, passage)
    if not rows.size:
        return None
    scores = cosines(index.sentence_matrix[rows], q)
    best = int(np.argmax(scores))
    return int(rows[best]), float(scores[best])


def candidate_scores(vectors, q: np.ndarray, k: int | None = None, nprobe: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cosines) of the `k` (default CANDIDATES) nearest vectors by the (approximate) faiss index; an
    IVF index probes `nprobe` lists (at most all; at least the index's own nprobe) when it is given."""
    k = CANDIDATES if k is None else k
    options = {}
    if nprobe:
        import faiss

        ivf = faiss.extract_index_ivf(vectors)
        options["params"] = faiss.SearchParametersIVF(nprobe=min(max(nprobe, ivf.nprobe), ivf.nlist))
    scores, rows = vectors.search(np.asarray(q, dtype=np.float32)[None, :], k, **options)
    keep = rows[0] >= 0
    return rows[0][keep], scores[0][keep]


def _approximate_passage_scores(index: Searcher, q: np.ndarray, also: np.ndarray | None = None) -> np.ndarray:
    """Cosines of the candidate passages and of the passages `also`, from the stored rows (`passage_matrix`:
    exact where it keeps exact vectors); every other passage gets -1, so that BM25 and the hints alone do not
    lift an unscored passage above scored ones (with the lowest candidate's cosine instead, 5 % of exact
    search's top 10 were lost at 40k passages: bench/scale_million.py)."""
    rows, _ = candidate_scores(index.vectors, q, nprobe=PASSAGE_NPROBE)
    out = np.full(index.vectors.ntotal, -1.0, dtype=np.float32)
    rows = rows if also is None else np.union1d(rows, also)
    out[rows] = cosines(index.passage_matrix[rows], q)
    return out


def query_vector(index: Searcher, question: str) -> np.ndarray:
    """The question's vector (cached by the searcher for the last few hundred questions)."""
    return index.query_vector(question)


def dense_scores(index: Searcher, question: str, q: np.ndarray | None = None, also: np.ndarray | None = None) -> np.ndarray:
    """Each passage's cosine; from an approximate index, for its candidates and the passages `also`."""
    q = query_vector(index, question) if q is None else q
    if not is_exact(index.vectors):
        return _approximate_passage_scores(index, q, also)
    return cosines(index.passage_matrix, q)


def sentence_scores(index: Searcher, question: str, q: np.ndarray | None = None,
                    also: np.ndarray | None = None) -> np.ndarray:
    """Best sentence's cosine for each passage (its own cosine where it has no sentence vectors); from
    approximate indexes, the passages `also` are scored besides the candidates."""
    q = query_vector(index, question) if q is None else q
    passage = dense_scores(index, question, q, also)
    if index.sentence_vectors is None or index.sentence_vectors.ntotal == 0:
        return passage
    best = passage.copy()
    if is_exact(index.sentence_vectors):  # sentences are stored in passage order: a max per segment
        owners, starts = index.sentence_segments
        best[owners] = np.maximum(best[owners], np.maximum.reduceat(cosines(index.sentence_matrix, q), starts))
    elif "IVF" in type(index.sentence_vectors).__name__:  # searchable: the nearest CANDIDATES sentences
        rows, scores = candidate_scores(index.sentence_vectors, q, nprobe=SENTENCE_NPROBE)
        if not is_exact(index.vectors):  # the passages of these sentences get their own cosines too
            owners = np.unique(index.sentence_owner[rows, 0])
            unscored = owners[passage[owners] <= -1]
            if unscored.size:
                passage[unscored] = best[unscored] = cosines(index.passage_matrix[unscored], q)
        np.maximum.at(best, index.sentence_owner[rows, 0], scores)
        if also is not None and also.size:
            rows = np.concatenate([sentence_rows(index, int(i)) for i in also])
            np.maximum.at(best, index.sentence_owner[rows, 0], cosines(index.sentence_matrix[rows], q))
    else:  # compressed codes (SQ8/PQ): only the sentences of the top passage candidates are scored
        top = np.argpartition(-passage, min(CANDIDATES, len(passage)) - 1)[:CANDIDATES]
        top = top if also is None else np.union1d(top, also)
        rows = np.concatenate([sentence_rows(index, int(i)) for i in top])
        np.maximum.at(best, index.sentence_owner[rows, 0], cosines(index.sentence_matrix[rows], q))
    return PASSAGE_SHARE * passage + (1 - PASSAGE_SHARE) * best


def bm25_scores(index: Searcher, question: str) -> np.ndarray:
    """BM25 of the question's terms; an English question's content words add their Dutch translations
    (`qa.translate`), as its own words seldom occur in a Dutch letter."""
    if hints.language(question) != "en":
        return index.lexical.scores(question)
    return index.lexical.scores(question, translated_terms(question))


def translated_terms(question: str) -> list[str]:
    """The analysed Dutch stems the content words of (English) `question` translate to (`qa.translate`)."""
    words = lookalike.content_words(hints.content_question(question))
    return [stem for word in words for stem in translate.dutch_stems(word)]


def hybrid_scores(index: Searcher, question: str) -> np.ndarray:
    """Sentence-level dense plus BM25 (max-normalised), the BM25 weight set by the question's kind. From an
    approximate index, BM25's top CANDIDATES passages are scored densely too, not only the dense candidates."""
    lexical = bm25_scores(index, question)
    also = None
    if not is_exact(index.vectors) and lexical.size:
        also = np.argpartition(-lexical, min(CANDIDATES, len(lexical)) - 1)[:CANDIDATES]
        also = also[lexical[also] > 0]
    dense = sentence_scores(index, question, also=also)
    top = float(lexical.max()) if lexical.size else 0.0
    weight = hints.lexical_weight(question)
    return dense + (weight * lexical / top if top > 0 else 0.0)


RETRIEVERS = {
    "dense": lambda index, q: dense_scores(index, q),
    "sentence": sentence_scores,
    "bm25": bm25_scores,
    "hybrid": hybrid_scores,
}


# ---- filters and hints ---------------------------------------------------------------------------

def filter_mask(index: Searcher, filters: Filters) -> np.ndarray | None:
    """True for passages whose letter passes the filters; None when there are no filters."""
    if not (filters.date_from or filters.date_to or filters.sender or filters.dossier or filters.letters
            or filters.exclude_letters):
        return None
    columns, facts = index.letter_columns, index.facts  # per letter, by number: no letter or passage is read
    keep = np.ones(len(facts.letter_number), dtype=bool)
    if filters.date_from:
        floor = hints.date_floor(filters.date_from)
        keep &= columns.where("date", lambda date: date and date >= floor)
    if filters.date_to:
        ceiling = hints.date_ceiling(filters.date_to)
        keep &= columns.where("date", lambda date: date and date <= ceiling)
    if filters.sender:
        keep &= columns.where("sender", lambda sender: filters.sender.lower() in sender.lower())
    if filters.dossier:
        keep &= columns.where("dossier", lambda dossier: re.sub(r"\s", "", filters.dossier) == re.sub(r"\s", "", dossier))
    if filters.letters:
        keep &= facts.marked(filters.letters)
    keep &= ~facts.marked(filters.exclude_letters)
    return keep[facts.letter_of]


def search(index: Searcher, question: str, k: int = 10, retriever: str = DEFAULT_RETRIEVER,
           filters: Filters = Filters(), use_hints: bool = True) -> list[Hit]:
    """The `k` best passages for `question`, best first."""
    question = check_question(question)
    if retriever.endswith(PLAIN):  # "dense-plain": the retriever without the question's hints
        retriever, use_hints = retriever.removesuffix(PLAIN), False
    if retriever not in RETRIEVERS:
        raise QuestionError(f"unknown retriever {retriever!r}; choose one of {', '.join(sorted(RETRIEVERS))} "
                            f"(add {PLAIN} for no question hints)")
    text = hints.content_question(question) if use_hints else question
    scores = np.asarray(RETRIEVERS[retriever](index, text), dtype=np.float32).copy()
    if use_hints:
        scores += hints.metadata_boost(index, question)
    mask = filter_mask(index, filters)
    if mask is not None:
        scores[~mask] = -np.inf
    k = min(k, int(np.isfinite(scores).sum()))
    if k <= 0:
        return []
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    confidence = hit_confidence(index, top, query_vector(index, text))
    return [Hit(index.passages[i], float(scores[i]), index.letters[index.passages[i].letter_id], float(c))
            for i, c in zip(top, confidence)]


WARM_UP = ("warm-up", "What is this letter about?")  # a Dutch-path and an English-path search (the translations)


def open_warm(path=None, model: str | None = None) -> Searcher:
    """`open_index`, then one search: the model's first run and the caches are paid for now, not on a
    user's first question (the app does this at start)."""
    searcher = open_searcher(path, model)
    for question in WARM_UP:
        search(searcher, question)
    searcher.term_frequency  # the answer's idf weights (a cached property)
    return searcher


__all__ = ["Filters", "IndexError_", "QuestionError", "RETRIEVERS", "open_index", "search"]
