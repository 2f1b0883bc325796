"""A `Searcher`: a loaded index with its embedding model and the caches search builds from them.

Opened once per process (`open_searcher`) and shared: the index is never changed after loading, the
caches are computed on first use (computing one twice in two threads gives the same value), and the
question-vector cache takes a lock. The encoder itself is safe to call from several threads.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from index.embed import Embedder, load_embedder
from index.lazy import LazyLetters, LazyPassages, LetterColumns, PassageNumbers, PassagesById, letter_columns
from index.store import Index, check_model, default_index_dir, load_index, read_manifest
from qa import hints

QUERY_CACHE_SIZE = 256  # question vectors kept (eval and the app ask the same questions again)


class _StoredRows:
    """The rows of an approximate faiss index, read on demand: no full matrix in memory at scale."""

    def __init__(self, vectors):
        import faiss

        if "IVF" in type(vectors).__name__:
            faiss.extract_index_ivf(vectors).make_direct_map()
        self.vectors = vectors

    def __getitem__(self, rows) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        found = self.vectors.reconstruct_batch(rows.reshape(-1))
        return found[0] if rows.ndim == 0 else found  # one row for one number, as a matrix gives


def _headers(letters):
    """The letters as read for their metadata only (at scale, without parsing their text)."""
    return letters.headers() if isinstance(letters, LazyLetters) else letters


def is_exact(vectors) -> bool:
    """True for a flat (exact) faiss index, whose vectors are scored all at once."""
    return type(vectors).__name__.startswith("IndexFlat")


def cosines(matrix: np.ndarray, q: np.ndarray) -> np.ndarray:
    """matrix @ q for unit vectors, computed in this thread: BLAS's threaded matrix-vector product
    waits on its other threads, 15x slower on a busy 2-core machine (bench: 16 ms against 1 ms for 5,771
    sentences) and worse when the app answers several questions at once."""
    return np.einsum("ij,j->i", matrix, q)


def _matrix(vectors):
    return vectors.reconstruct_n(0, vectors.ntotal) if is_exact(vectors) else _StoredRows(vectors)


@dataclass(eq=False)
class Searcher:
    """What a search needs: the index, the model that embeds questions for it, and their caches."""

    index: Index
    embedder: Embedder
    _questions: OrderedDict = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ---- the index's parts ----------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self.index.path

    @property
    def manifest(self) -> dict:
        return self.index.manifest

    @property
    def letters(self):
        return self.index.letters

    @property
    def passages(self):
        return self.index.passages

    @property
    def vectors(self):
        return self.index.vectors

    @property
    def sentence_vectors(self):
        return self.index.sentence_vectors

    @property
    def sentence_owner(self) -> np.ndarray | None:
        return self.index.sentence_owner

    @property
    def lexical(self):
        return self.index.lexical

    # ---- caches, computed on first use ----------------------------------------------------------
    @cached_property
    def passage_matrix(self):
        """Passage vectors as a matrix (exact index) or rows read on demand (approximate)."""
        return _matrix(self.index.vectors)

    @cached_property
    def sentence_matrix(self):
        return _matrix(self.index.sentence_vectors)

    @cached_property
    def passage_numbers(self) -> dict[str, int]:
        """Passage id -> its row in the index (read from disk by number at scale: no dict of every id)."""
        if isinstance(self.index.passages, LazyPassages):
            return PassageNumbers(self.index.passages)
        return {p.id: i for i, p in enumerate(self.index.passages)}

    @cached_property
    def passages_by_id(self) -> dict:
        """Passage id -> passage."""
        if isinstance(self.index.passages, LazyPassages):
            return PassagesById(self.index.passages)
        return {p.id: p for p in self.index.passages}

    @cached_property
    def sentence_bounds(self) -> np.ndarray:
        """Sentence rows of passage i are sentence_bounds[i]:sentence_bounds[i + 1] (owners are in order)."""
        owner = self.index.sentence_owner[:, 0] if self.index.sentence_owner is not None else np.zeros(0, np.int32)
        return np.searchsorted(owner, np.arange(len(self.index.passages) + 1))

    @cached_property
    def sentence_segments(self) -> tuple[np.ndarray, np.ndarray]:
        """(passages that have sentence vectors, the row of each one's first sentence vector)."""
        bounds = self.sentence_bounds
        owners = np.flatnonzero(bounds[1:] > bounds[:-1])
        return owners, bounds[owners]

    @cached_property
    def term_frequency(self) -> tuple[dict[str, int], int]:
        """Passages holding each analysed term, and the number of passages (quote choice, abstention)."""
        return self.index.lexical.document_frequency()

    @cached_property
    def letter_columns(self) -> LetterColumns:
        """Each letter's date, sender and dossier as codes (what the search filters compare)."""
        return letter_columns(_headers(self.index.letters).values())

    @cached_property
    def facts(self) -> hints.LetterFacts:
        """The letters' years, months, ministries and signers, for the question's metadata hints."""
        return hints.letter_facts(_headers(self.index.letters), self.index.passages)

    def forget_questions(self) -> None:
        """Empty the question-vector cache (benchmarks time the question's encoding too)."""
        with self._lock:
            self._questions.clear()

    def cached_bytes(self) -> int:
        """Bytes of the float32 vector matrices computed so far (exact search keeps them in memory)."""
        return sum(getattr(self.__dict__.get(k), "nbytes", 0) for k in ("passage_matrix", "sentence_matrix"))

    def query_vector(self, question: str) -> np.ndarray:
        """The question's vector; the last QUERY_CACHE_SIZE questions are kept."""
        with self._lock:
            if question in self._questions:
                self._questions.move_to_end(question)
                return self._questions[question]
        vector = self.embedder.encode_queries([question])[0]
        with self._lock:
            self._questions[question] = vector
            while len(self._questions) > QUERY_CACHE_SIZE:
                self._questions.popitem(last=False)
        return vector


def open_searcher(path: Path | str | None = None, model: str | None = None, deep_check: bool = True) -> Searcher:
    """The index at `path` (default: $KAMERQA_INDEX, else the user data folder) with the embedding model
    it was built with (or `model`, else $KAMERQA_MODEL, which must match)."""
    folder = Path(path) if path else default_index_dir()
    manifest = read_manifest(folder)
    with ThreadPoolExecutor(max_workers=1) as pool:  # the model loads while the index is read (a one-off ask)
        loading = pool.submit(load_embedder, model or os.environ.get("KAMERQA_MODEL") or manifest["model"])
        index = load_index(folder, deep_check=deep_check, manifest=manifest)
        embedder = loading.result()
    check_model(index.manifest, embedder, index.path)
    return Searcher(index, embedder)
