"""The real pipeline at scale: `search()` (hybrid: sentence-level dense + BM25 + hints) on indexes of
10k, 100k, 1M passages with their sentences, against exact search on the same data.

    python bench/scale_search.py --index /work/idx/large --sizes 10000 100000 --out docs/scale_search.json

Data: the real index's passages, sentences and texts, grown beyond it with passages that keep the geometry
of real data: each new passage vector is a random convex mix of 2-3 real passage vectors (renormalised);
its sentences are the sentences of one of those real passages moved by the same offset (s - p_real +
p_new, renormalised); its BM25 text is words sampled from those real passages. New passages reuse the
real passages' letters (so dates and senders, hence the question hints, are real). Questions are the dev
questions, encoded afresh for every search (no cached vector).

Sentence scoring, by how the sentence vectors are kept (`--sentences`):
  ann-sq8  IVF-SQ8 over sentences, the CANDIDATES nearest sentences scored (what build_index makes today)
  top-sq8  8-bit scalar codes, only the sentences of the top passage candidates scored
  top-pq   product-quantised codes (48 bytes a sentence), only those of the top passage candidates
Exact = flat passage and sentence vectors, every passage scored (what indexes below ANN_THRESHOLD get);
measured only at sizes whose float32 vectors fit (--exact-max).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index.build import choose_faiss_index  # noqa: E402
from index.lexical import Lexical  # noqa: E402
from index.store import Index  # noqa: E402
from qa.cli_bench import _spread, mixtures  # noqa: E402
from qa.footprint import faiss_bytes, lexical_bytes  # noqa: E402
from qa.search import open_index, search  # noqa: E402
from qa.searcher import Searcher  # noqa: E402

PQ_BYTES = 48  # sub-quantisers of 8 bits for top-pq (384 / 48 = 8 dimensions each)
ROUNDS = 3  # rounds of each timing (--rounds)


def grow(real: Index, n: int, seed: int = 0):
    """(passage vectors, sentence vectors, sentence owner, passage numbers of the real template, texts)
    for `n` passages: the real ones first, then mixtures (see the module's docstring)."""
    import faiss

    rng = np.random.default_rng(seed)
    for stored in (real.vectors, real.sentence_vectors):
        if "IVF" in type(stored).__name__:  # reconstruct_n needs the id -> list map
            faiss.extract_index_ivf(stored).make_direct_map()
    P = real.vectors.reconstruct_n(0, real.vectors.ntotal)
    S = real.sentence_vectors.reconstruct_n(0, real.sentence_vectors.ntotal)
    bounds = np.searchsorted(real.sentence_owner[:, 0], np.arange(len(P) + 1))
    n_real = len(P)
    template = np.concatenate([np.arange(min(n, n_real)), rng.integers(0, n_real, max(0, n - n_real))])
    vectors = np.empty((n, P.shape[1]), dtype=np.float32)
    vectors[:n_real] = P[:n]
    extra = max(0, n - n_real)
    if extra:
        mixed = mixtures(P, extra, seed)
        weight = rng.uniform(0.4, 0.8, (extra, 1)).astype(np.float32)  # the template is one of the parents
        block = weight * P[template[n_real:]] + (1 - weight) * mixed
        vectors[n_real:] = block / np.linalg.norm(block, axis=1, keepdims=True)
    counts = bounds[template + 1] - bounds[template]
    owner = np.repeat(np.arange(n, dtype=np.int32), counts)
    sentences = np.empty((len(owner), P.shape[1]), dtype=np.float32)
    start = 0
    for chunk in np.array_split(np.arange(n), max(1, n // 50_000)):
        rows = np.concatenate([np.arange(bounds[t], bounds[t + 1]) for t in template[chunk]])
        moved = S[rows] - P[template[owner[start:start + len(rows)]]] + vectors[owner[start:start + len(rows)]]
        sentences[start:start + len(rows)] = moved / np.linalg.norm(moved, axis=1, keepdims=True)
        start += len(rows)
    words = [f"{real.letters[p.letter_id].title} {p.search_text}".split() for p in real.passages]
    texts = [" ".join(words[t]) if i < n_real else
             " ".join(rng.choice(words[t] + words[rng.integers(n_real)], len(words[t]))) for i, t in enumerate(template)]
    return vectors, sentences, np.stack([owner, np.zeros_like(owner)], 1), template, texts


def sentence_index(kind: str, sentences: np.ndarray):
    import faiss

    if kind == "exact":
        return choose_faiss_index(sentences, approximate=False)
    if kind == "ann-sq8":
        return choose_faiss_index(sentences, approximate=True)
    index = (faiss.IndexScalarQuantizer(sentences.shape[1], faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
             if kind == "top-sq8" else faiss.IndexPQ(sentences.shape[1], PQ_BYTES, 8, faiss.METRIC_INNER_PRODUCT))
    sample = np.random.default_rng(0).choice(len(sentences), min(len(sentences), 100_000), replace=False)
    index.train(sentences[np.sort(sample)])
    index.add(sentences)
    return index


def make_index(real: Searcher, data, kind: str, lexical: Lexical) -> Searcher:
    vectors, sentences, owner, template, _ = data
    n_real = len(real.passages)
    passages = [real.passages[t] if i < n_real else replace(real.passages[t], start=real.passages[t].start + 10**9 + i)
                for i, t in enumerate(template)]  # a new passage: its template's letter and text, its own id
    index = Index(real.path, dict(real.manifest), real.letters, passages,
                  choose_faiss_index(vectors, approximate=kind != "exact"), sentence_index(kind, sentences), owner,
                  lexical)
    return Searcher(index, real.embedder)


def timed_search(index: Searcher, questions: list[str], rounds: int = ROUNDS) -> tuple[dict, list[list[int]]]:
    """p50 / p95 ms of search() (medians over rounds; the question encoded every time) and each top 10."""
    numbers = {}
    search(index, questions[0], k=10)  # builds the lazy matrices
    p50, p95 = [], []
    for _ in range(rounds):
        times = []
        for q in questions:
            index.forget_questions()
            started = time.perf_counter()
            hits = search(index, q, k=10)
            times.append((time.perf_counter() - started) * 1000)
            numbers[q] = [h.passage.id for h in hits]
        p50.append(float(np.percentile(times, 50)))
        p95.append(float(np.percentile(times, 95)))
    return {"p50_ms": round(float(np.median(p50)), 1), "p95_ms": round(float(np.median(p95)), 1),
            "p95_spread": _spread(p95, 1)}, [numbers[q] for q in questions]


def agreement(found: list[list], truth: list[list]) -> float:
    """Share of exact search's top 10 that the other search also returns, over all questions."""
    return round(float(np.mean([len(set(f) & set(t)) / max(1, len(t))
                                for f, t in zip(found, truth)])), 4)


def run(index_dir: Path, sizes: list[int], kinds: list[str], questions: list[str], exact_max: int,
        rounds: int = ROUNDS, log=print) -> list[dict]:
    real = open_index(index_dir, deep_check=False)
    rows = []
    for n in sizes:
        started = time.perf_counter()
        data = grow(real, n)
        lexical = Lexical.build(data[4])
        lexical_s = time.perf_counter() - started
        base = {"passages": n, "sentences": len(data[2]), "bm25_bytes_per_passage": round(lexical_bytes_of(lexical) / n, 1),
                "data_and_bm25_build_s": round(lexical_s, 1)}
        truth = None
        for kind in (["exact"] if n <= exact_max else []) + kinds:
            started = time.perf_counter()
            index = make_index(real, data, kind, lexical)
            build_s = time.perf_counter() - started
            figures, tops = timed_search(index, questions, rounds)
            row = {**base, "sentences_kept": kind, "build_s": round(build_s, 1), **figures,
                   "bytes_per_passage": bytes_per_passage(index, n)}
            if kind == "exact":
                truth = tops
            elif truth is not None:
                row["top10_agreement_with_exact"] = agreement(tops, truth)
            rows.append(row)
            log(json.dumps(row))
            del index
    return rows


def lexical_bytes_of(lexical: Lexical) -> int:
    return lexical_bytes(Index(Path("."), {}, {}, [], None, lexical=lexical))


def bytes_per_passage(index: Index, n: int) -> dict:
    parts = {"passage_vectors": faiss_bytes(index.vectors), "sentence_vectors": faiss_bytes(index.sentence_vectors),
             "sentence_owner": index.sentence_owner.nbytes, "bm25_matrix": lexical_bytes(index)}
    return {"total": round(sum(parts.values()) / n, 1), **{k: round(v / n, 1) for k, v in parts.items()}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--index", type=Path, required=True, help="a real index (passages with sentence vectors)")
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--sentences", nargs="+", default=["ann-sq8", "top-sq8", "top-pq"])
    p.add_argument("--exact-max", type=int, default=200_000, help="largest size also searched exactly")
    p.add_argument("--questions", type=Path, default=Path(__file__).resolve().parents[2] / "shared/eval/dev_questions.jsonl")
    p.add_argument("--rounds", type=int, default=ROUNDS)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    questions = [json.loads(line)["question"] for line in args.questions.read_text().splitlines() if line.strip()]
    rows = run(args.index, args.sizes, args.sentences, questions, args.exact_max, args.rounds,
               log=lambda s: print(s, flush=True))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
