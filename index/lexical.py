"""Lexical search: BM25 (bm25s) over a Dutch analyser.

The analyser lower-cases, folds accents, normalises pre-1947 spelling (search only, never display:
"Regeering" -> "regering", "Nederlandsche" -> "nederlandse", "ambtgenooten" -> "ambtgenoten",
"eene" -> "een"), drops Dutch stop words and stems with Snowball (PyStemmer). Query words that are not
in the index's vocabulary are expanded to close vocabulary words (rapidfuzz), so typos still match.
"""
from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from index.vocabulary import Terms, Vocabulary

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_VOWEL = "aeiouy"
_OLD_WORDS = {"eene": "een", "eener": "een", "eenen": "een", "den": "de", "zoo": "zo", "ook": "ook",
              "mensch": "mens", "menschen": "mensen", "hunne": "hun", "zijne": "zijn", "onze": "onze"}
STOPWORDS = frozenset("""
de het een en van in op te dat die is voor met zijn aan er niet om als ook bij of door naar dan
maar uit wordt nog tot over worden zich deze dit kan ook werd wel al reeds zal zou heeft hebben
was waren ik u uw wij we ze zij hij haar hun men geen meer zo nu wat wie waar welke hoe waarom
wanneer the of and to in on for a an is are was were what which who why how when does did do
about with by from at that this it as be has have had been would should
""".split())


@lru_cache(maxsize=500_000)  # words repeat: analysing the answer's passages folds the same ones again
def fold(word: str) -> str:
    """Lower-case and strip accents: 'Financiën' -> 'financien'."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=500_000)
def modernise(word: str) -> str:
    """Pre-1947 spelling to modern, for matching: double vowels in open syllables, -sch(e), eene."""
    if word in _OLD_WORDS:
        return _OLD_WORDS[word]
    word = re.sub(rf"(ee|oo)([^{_VOWEL}])(?=[{_VOWEL}])", lambda m: m.group(1)[0] + m.group(2), word)
    word = re.sub(r"(?<=[^i])sch(e?)(n|r)?$", lambda m: "s" + m.group(1) + (m.group(2) or ""), word)
    return word


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("dutch")


@lru_cache(maxsize=500_000)
def _term(word: str) -> str:
    return _stemmer().stemWord(modernise(word))


@lru_cache(maxsize=500_000)
def _word_term(word: str) -> str | None:
    """A word's index term; None for a stop word or a single letter."""
    w = fold(word)
    return _term(w) if w not in STOPWORDS and (len(w) > 1 or w.isdigit()) else None


def analyse(text: str) -> list[str]:
    """Text to index terms (one cache lookup a word: analysing the large corpus is a rebuild's largest cost)."""
    return [t for t in map(_word_term, _TOKEN.findall(text)) if t is not None]


SUMMED_METHODS = {"lucene", "robertson", "atire"}  # bm25s variants whose score is a sum over the present terms


@dataclass(frozen=True)
class SavedBM25:
    """A saved bm25s index read without bm25s (whose import pulls in numba and scipy: ~0.4 s of a one-off
    question): its per-term passage scores, precomputed at build, summed per passage as bm25s sums them
    (`BM25.get_scores`: one `np.add.at` a term, in the question's order; `posting_sums`), so the scores are
    the same."""

    scores: dict  # bm25s' names: data, indices, indptr (a column per term), num_docs
    vocab_dict: Vocabulary  # term -> column, as bm25s's dict of the same name

    @classmethod
    def load(cls, folder: Path, params: dict) -> "SavedBM25":
        arrays = {name: np.load(folder / f"{name}.csc.index.npy") for name in ("data", "indices", "indptr")}
        vocab = Vocabulary(json.loads((folder / "vocab.index.json").read_text(encoding="utf-8")))
        return cls({**arrays, "num_docs": params["num_docs"]}, vocab)

    def get_scores(self, terms: list[str]) -> np.ndarray:
        return posting_sums(self.scores, [self.vocab_dict[t] for t in terms if t in self.vocab_dict])


class DocumentFrequency(Mapping):
    """Term -> the number of passages holding it, read from the BM25 matrix's column bounds (a dict of it cost
    ~390 bytes a passage on the large index)."""

    def __init__(self, vocab: dict[str, int], indptr: np.ndarray):
        self.vocab, self.indptr = vocab, indptr

    def __getitem__(self, term: str) -> int:
        i = self.vocab[term]
        if i + 1 >= len(self.indptr):
            raise KeyError(term)
        return int(self.indptr[i + 1] - self.indptr[i])

    def __iter__(self):
        return (t for t, i in self.vocab.items() if i + 1 < len(self.indptr))

    def __len__(self) -> int:
        return sum(1 for _ in self)


CLOSE_TERMS_KEPT = 50_000  # unknown question terms whose closest vocabulary words are remembered


@dataclass
class Lexical:
    """A BM25 index over passages, with its vocabulary for typo expansion."""

    bm25: object
    vocab: Sequence[str]  # the sorted terms: a tuple, or index.vocabulary.Terms of a saved index
    close: dict[str, list[str]] = field(default_factory=dict, repr=False)  # unknown term -> closest words

    def document_frequency(self) -> tuple[Mapping[str, int], int]:
        """Per analysed term, the number of passages holding it; and the number of passages."""
        return DocumentFrequency(self.bm25.vocab_dict, np.asarray(self.bm25.scores["indptr"])), \
            int(self.bm25.scores["num_docs"])

    @classmethod
    def build(cls, texts: list[str]) -> "Lexical":
        import bm25s

        bm25 = bm25s.BM25(k1=1.2, b=0.75)
        bm25.index([analyse(t) for t in texts], show_progress=False)
        return cls(bm25, tuple(sorted(t for t in bm25.vocab_dict if t)))

    def save(self, folder: Path, scores_dtype: str = "float32") -> None:
        """Save as bm25s does, the score matrix as `scores_dtype` (float16 halves it: `posting_sums`)."""
        self.bm25.save(str(folder), show_progress=False)
        if scores_dtype != "float32":
            data = Path(folder) / "data.csc.index.npy"
            np.save(data, np.load(data).astype(scores_dtype))

    @classmethod
    def load(cls, folder: Path) -> "Lexical":
        params = json.loads((Path(folder) / "params.index.json").read_text())
        if params.get("method") in SUMMED_METHODS and params.get("backend", "numpy") == "numpy":
            bm25 = SavedBM25.load(Path(folder), params)
            return cls(bm25, bm25.vocab_dict.terms())
        else:  # a variant with a score for absent terms (BM25L, BM25+): bm25s itself
            import bm25s  # (only for these: importing it pulls in numba and scipy, ~0.4 s)

            bm25 = bm25s.BM25.load(str(folder), show_progress=False, verbosity=0)
        return cls(bm25, tuple(sorted(t for t in bm25.vocab_dict if t)))

    def query_terms(self, question: str, fuzzy: bool = True) -> list[str]:
        """Analysed question terms; unknown ones replaced by their closest vocabulary words."""
        known = self.bm25.vocab_dict
        terms = []
        for term in analyse(question):
            if term in known:
                terms.append(term)
            elif fuzzy and len(term) >= 5:
                terms.extend(self.close_terms(term))
        return terms

    def close_terms(self, term: str) -> list[str]:
        """The vocabulary words closest to an unknown `term` (a scan of the whole vocabulary, so the answer is
        kept: the vocabulary does not change while the index is open)."""
        found = self.close.get(term)
        if found is None:
            if len(self.close) >= CLOSE_TERMS_KEPT:
                self.close.clear()
            found = self.close[term] = _close_terms(term, self.vocab)
        return found

    def scores(self, question: str, extra_terms: Iterable[str] = ()) -> np.ndarray:
        """BM25 score of every passage for `question`, plus `extra_terms` (analysed terms, e.g. the Dutch
        translations of an English question's words) that the vocabulary holds."""
        known = self.bm25.vocab_dict
        terms = self.query_terms(question) + [t for t in dict.fromkeys(extra_terms) if t in known]
        if not terms:
            return np.zeros(self.bm25.scores["num_docs"], dtype=np.float32)
        if getattr(self.bm25, "nonoccurrence_array", None) is not None:  # BM25L/BM25+: bm25s itself
            return self.bm25.get_scores(terms).astype(np.float32)
        return posting_sums(self.bm25.scores, [known[t] for t in terms])  # query_terms are vocabulary words


def posting_sums(matrix: dict, term_ids: list[int]) -> np.ndarray:
    """Each passage's summed scores for the terms: what bm25s's `get_scores` adds up, with each posting
    list's scores made float32 first, so a matrix kept in float16 (half the memory) is summed as fast (numpy's
    add.at from float16 into float32 took 2.6 s for 3M postings, 17 ms from float32: docs/PERFORMANCE.md)."""
    data, indices, indptr = matrix["data"], matrix["indices"], matrix["indptr"]
    out = np.zeros(matrix["num_docs"], dtype=np.float32)
    for term in term_ids:
        start, end = indptr[term], indptr[term + 1]
        np.add.at(out, indices[start:end], np.asarray(data[start:end], dtype=np.float32))
    return out


def _close_terms(term: str, vocab, limit: int = 2, cutoff: float = 85.0) -> list[str]:
    from rapidfuzz import fuzz, process

    choices = vocab.as_list() if isinstance(vocab, Terms) else vocab  # strings only while scanning
    return [m[0] for m in process.extract(term, choices, scorer=fuzz.ratio, limit=limit, score_cutoff=cutoff)]
