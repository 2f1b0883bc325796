"""Bytes per passage of everything an index holds: its files on disk, and in memory after loading it
and answering one question with every retriever (so the caches search builds are counted too).

In memory = Python and numpy allocations (tracemalloc: letters, passages, BM25's sparse matrix and
vocabulary, sentence owners, the score matrices search caches) + faiss's own C++ memory (its serialised
size: codes, ids, centroids), which tracemalloc cannot see. (The process's resident-set growth is no
measure: after the uncounted first load the allocator reuses freed memory, and it read 0.)"""
from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

from index.store import Index, load_index
from qa.search import RETRIEVERS, search
from qa.searcher import Searcher


def file_bytes(index: Index) -> dict[str, int]:
    """Bytes of each file of the index's current generation, by relative path."""
    return {rel: info["bytes"] for rel, info in index.manifest["files"].items()}


def faiss_bytes(vectors) -> int:
    import faiss

    if vectors is None or not isinstance(vectors, faiss.Index):  # e.g. index.layout.DiskVectors: on disk
        return 0
    return int(faiss.serialize_index(vectors).nbytes)


def lexical_bytes(index: Index) -> int:
    """BM25's sparse score matrix (data, indices, indptr) as numpy holds it."""
    scores = getattr(getattr(index.lexical, "bm25", None), "scores", {}) or {}
    return int(sum(v.nbytes for v in scores.values() if hasattr(v, "nbytes")))


def _load_and_search(path: Path | str, embedder, questions: list[str]) -> Searcher:
    index = Searcher(load_index(Path(path), deep_check=False), embedder)  # the model is loaded before counting
    for retriever in RETRIEVERS:
        for q in questions[:2]:
            search(index, q, k=10, retriever=retriever)
    return index


def measure(path: Path | str, embedder, questions: list[str]) -> dict:
    """Load the index at `path` (with `embedder` already loaded, so the model is not counted), run each
    retriever on two questions, and report bytes per passage: on disk, in memory, and the parts
    (`search_matrices`: the float32 copies of the vectors that exact search keeps)."""
    _load_and_search(path, embedder, questions)  # once uncounted: the modules it imports are no index's
    gc.collect()
    tracemalloc.start()
    index = _load_and_search(path, embedder, questions)
    gc.collect()
    python_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    n = len(index.passages)
    parts = {"passage_vectors": faiss_bytes(index.vectors), "sentence_vectors": faiss_bytes(index.sentence_vectors),
             "sentence_owner": int(index.sentence_owner.nbytes) if index.sentence_owner is not None else 0,
             "bm25_matrix": lexical_bytes(index),
             "letters_text": sum(len(letter.text.encode()) for letter in index.letters.values()),
             "search_matrices": index.cached_bytes()}
    in_memory = python_bytes + parts["passage_vectors"] + parts["sentence_vectors"]
    files = file_bytes(index)
    return {"passages": n, "sentences": 0 if index.sentence_vectors is None else int(index.sentence_vectors.ntotal),
            "disk": round(sum(files.values()) / n, 1),
            "in_memory": round(in_memory / n, 1),
            "parts": {k: round(v / n, 1) for k, v in parts.items()},
            "python_and_numpy": round(python_bytes / n, 1)}
