"""Bytes per passage that an index made by `kamerqa index` (build_index) keeps in memory once `load_index`
has opened it and search() has run: every vector, id, offset and BM25 structure, counted part by part,
and the process's resident memory before and after loading. Prints one JSON object.

    python bench/index_memory.py --index /work/idx/layout-large [--questions ../shared/eval/dev_questions.jsonl]

Parts: passage vectors (faiss's serialised size: codes, ids, centroids, and the IVF direct map search()
makes to re-score candidates), sentence vectors held in memory (0 for the float16 file, whose size on disk is given apart),
sentence owners and bounds, BM25 (score matrix: data, indices, indptr; vocabulary; the document frequencies
the answer caches), the passages (at scale: byte offsets, letter numbers and starts, and the parsed passages
the cache holds; else the Python objects), the hints' per-passage facts, the letters (at scale: their ids
and offsets, the parsed letters the cache holds, and the filters' columns; else the Letter objects with
their text). `scales_with` says which grow with the passages, which with the letters
and which are fixed, so a figure per passage can be carried to another size.
"""
from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index.embed import load_embedder  # noqa: E402
from index.lazy import LazyLetters, LazyPassages  # noqa: E402
from index.store import load_index, read_manifest  # noqa: E402
from qa import search as qs  # noqa: E402
from qa.footprint import faiss_bytes  # noqa: E402
from qa.searcher import Searcher  # noqa: E402

QUESTIONS = Path(__file__).resolve().parents[2] / "shared/eval/dev_questions.jsonl"


def status() -> dict:
    """Resident memory of this process now (MB): all, anonymous (heap), file pages (e.g. memory-mapped files)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    mb = lambda k: round(int(fields[k].split()[0]) / 1024, 1)  # noqa: E731
    return {"rss_mb": mb("VmRSS"), "anon_mb": mb("RssAnon"), "file_mb": mb("RssFile"), "peak_mb": mb("VmHWM")}


def python_bytes(obj) -> int:
    """Deep size of strings, tuples, lists and dicts (what a vocabulary or a Letter holds)."""
    seen, todo, total = set(), [obj], 0
    while todo:
        o = todo.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        if isinstance(o, dict):
            todo.extend(o.keys())
            todo.extend(o.values())
        elif isinstance(o, (list, tuple, set, frozenset)):
            todo.extend(o)
        elif hasattr(o, "__dataclass_fields__"):
            todo.extend(getattr(o, f) for f in o.__dataclass_fields__)
    return total


def passage_parts(searcher: Searcher) -> dict:
    passages, letters = searcher.passages, searcher.letters
    out = {"passage_table": passages.nbytes(), "passage_cache": python_bytes(list(passages.rows.cache.values()))} \
        if isinstance(passages, LazyPassages) else {"passage_objects": python_bytes(passages)}
    if isinstance(letters, LazyLetters):
        return {**out, "letter_table": python_bytes(letters.numbers) + letters.nbytes(),
                "letter_cache": python_bytes(list(letters.rows.cache.values()))}
    return {**out, "letters": python_bytes(letters)}


def parts_of(searcher: Searcher) -> dict:
    """Bytes of each part the loaded index holds (see the module's docstring)."""
    bm25, facts = searcher.lexical.bm25, searcher.facts
    cached = searcher.__dict__
    parts = {
        "passage_vectors": faiss_bytes(searcher.vectors),  # serialised: with the direct map search() made
        "sentence_vectors": faiss_bytes(searcher.sentence_vectors),
        "sentence_owner": 0 if searcher.sentence_owner is None or isinstance(searcher.sentence_owner, np.memmap)
        else searcher.sentence_owner.nbytes,  # memory-mapped with the float16 sentence file: on disk
        "sentence_bounds": sum(a.nbytes for a in [cached.get("sentence_bounds")] + list(cached.get("sentence_segments", ()))
                               if a is not None),
        "exact_search_matrices": searcher.cached_bytes(),
        "bm25_matrix": sum(v.nbytes for v in bm25.scores.values() if hasattr(v, "nbytes")),
        "bm25_vocabulary": bm25.vocab_dict.nbytes() if hasattr(bm25.vocab_dict, "nbytes")  # index.vocabulary
        else python_bytes((bm25.vocab_dict, searcher.lexical.vocab)),  # a dict and a tuple of the same strings
        "document_frequency": python_bytes(cached["term_frequency"]) if "term_frequency" in cached else 0,
        **passage_parts(searcher),
        "hint_facts": facts.year.nbytes + facts.month.nbytes + getattr(facts, "unsent", np.zeros(0)).nbytes
        + (0 if isinstance(searcher.passages, LazyPassages) else facts.letter_of.nbytes),  # else a view of places
        "letter_columns": python_bytes(cached["letter_columns"].values) + sum(
            a.nbytes for a in cached["letter_columns"].codes.values()) if "letter_columns" in cached else 0,
    }
    return {k: int(v) for k, v in parts.items()}


SCALES_WITH = {"passages": ("passage_vectors", "sentence_vectors", "sentence_owner", "sentence_bounds",
                            "exact_search_matrices", "bm25_matrix", "passage_table", "passage_objects", "hint_facts"),
               "letters": ("letters", "letter_table", "letter_columns"),
               "fixed (vocabulary; caches bounded by PASSAGE_CACHE and LETTER_CACHE)": (
                   "bm25_vocabulary", "document_frequency", "passage_cache", "letter_cache")}


def measure(path: Path, questions: list[str]) -> dict:
    manifest = read_manifest(path)
    embedder = load_embedder(manifest["model"])
    embedder.encode_queries(["opwarmen"])  # the model's own memory is in `before`
    gc.collect()
    before = status()
    started = time.perf_counter()
    index = load_index(path, deep_check=False, manifest=manifest)
    load_s = time.perf_counter() - started
    loaded = status()
    searcher = Searcher(index, embedder)
    for q in questions:
        qs.search(searcher, q, k=10)
    qs.search(searcher, questions[0], k=10, filters=qs.Filters(date_from="1900"))  # the filters' letter columns
    searcher.term_frequency  # the answer's idf weights
    searched = status()
    n = len(index.passages)
    parts = parts_of(searcher)
    on_disk = {rel: info["bytes"] for rel, info in index.manifest["files"].items()}
    return {"index": str(path), "passages": n, "letters": len(index.letters),
            "sentences": int(index.sentence_owner.shape[0]) if index.sentence_owner is not None else 0,
            "faiss": index.manifest.get("faiss"), "sentence_vectors": index.manifest.get("sentence_vectors", "faiss"),
            "passages_read": "from disk by number" if isinstance(index.passages, LazyPassages) else "all in memory",
            "load_s": round(load_s, 2), "questions_searched": len(questions),
            "bytes_per_passage": {"total": round(sum(parts.values()) / n, 1),
                                  **{k: round(v / n, 1) for k, v in parts.items()}},
            "scales_with": {kind: round(sum(parts.get(k, 0) for k in keys) / n, 1) for kind, keys in SCALES_WITH.items()},
            "on_disk_bytes_per_passage": {"total": round(sum(on_disk.values()) / n, 1),
                                          "sentence_vectors": round(sum(v for k, v in on_disk.items()
                                                                        if k.startswith("sentences")) / n, 1),
                                          "sentence_owner": round(on_disk.get("sentence_owner.npy", 0) / n, 1)},
            "rss_mb": {"model_loaded": before, "after_load_index": loaded, "after_searches": searched,
                       "load_index_growth_anon_mb": round(loaded["anon_mb"] - before["anon_mb"], 1),
                       "load_and_search_growth_anon_mb": round(searched["anon_mb"] - before["anon_mb"], 1)}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--index", type=Path, required=True)
    p.add_argument("--questions", type=Path, default=QUESTIONS, help="questions searched before counting (.jsonl)")
    p.add_argument("--limit", type=int, default=20, help="questions searched (the first N)")
    args = p.parse_args(argv)
    questions = [json.loads(line)["question"] for line in args.questions.read_text().splitlines() if line.strip()]
    print(json.dumps(measure(args.index, questions[:args.limit]), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
