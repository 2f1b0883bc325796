"""Does the approximate sentence index cost ranks on a large index? The same index searched with its
sentence vectors exact (flat float32) and as IVF-SQ8 at several nprobe / candidate counts.

    python bench/sentence_ann.py --index /work/idx/scale-large --questions QUESTIONS.jsonl --out OUT.jsonl

The index's passages, BM25 and letters stay as they are; only the sentence scores change. The exact
sentence vectors are read from the embedding cache (the vectors the build stored, by text hash; any text
missing there is embedded). Each variant: `kamerqa eval`'s hybrid figures (all and per language), and
the time of one flat scan of the sentence vectors / one IVF search (median of 3 rounds over the questions).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import qa.search as search_module  # noqa: E402
from index.build import EmbeddingCache, choose_faiss_index, embed_with_cache  # noqa: E402
from index.documents import corpus_sentences  # noqa: E402
from index.embed import cache_dir  # noqa: E402
from qa.evaluate import evaluate  # noqa: E402
from qa.questions import load_questions  # noqa: E402
from qa.search import Filters, open_index, search  # noqa: E402
from qa.searcher import Searcher  # noqa: E402

ROUNDS = 3


def exact_sentences(real: Searcher) -> np.ndarray:
    """The float32 sentence vectors of the index, in its row order, from the embedding cache."""
    texts, owner = corpus_sentences(real.passages, real.manifest["settings"]["min_sentence_words"])
    if not np.array_equal(owner, real.sentence_owner):
        raise SystemExit("the index's sentence owners differ from its passages' sentences: built with other settings?")
    cache = EmbeddingCache(cache_dir() / "embeddings.sqlite", real.embedder.fingerprint)
    vectors, embedded = embed_with_cache(texts, real.embedder, cache)
    print(json.dumps({"sentences": len(texts), "embedded_now": embedded}), flush=True)
    return vectors


def scan_ms(sentence_index, exact: np.ndarray, queries: np.ndarray, k: int) -> float:
    """Median over rounds of the median time of one sentence search (a flat index: the full scan)."""
    medians = []
    for _ in range(ROUNDS):
        times = []
        for q in queries:
            started = time.perf_counter()
            if type(sentence_index).__name__.startswith("IndexFlat"):
                np.einsum("ij,j->i", exact, q)
            else:
                sentence_index.search(q[None, :], k)
            times.append((time.perf_counter() - started) * 1000)
        medians.append(statistics.median(times))
    return round(statistics.median(medians), 2)


def figures(result: dict) -> dict:
    keep = ("hit@1", "hit@5", "mrr@10", "n")
    out = {"all": {m: round(result[m], 3) for m in keep}}
    out |= {lang: {m: round(v[m], 3) for m in keep} for lang, v in result["by_lang"].items()}
    return out


def variants(exact: np.ndarray, stored, nprobes: list[int], candidates: list[int]):
    """(name, sentence index, CANDIDATES) to evaluate."""
    import faiss

    yield "exact", choose_faiss_index(exact, approximate=False), search_module.CANDIDATES
    ivf = faiss.extract_index_ivf(stored)
    for nprobe in nprobes:
        for k in candidates:
            ivf.nprobe = search_module.SENTENCE_NPROBE = min(nprobe, ivf.nlist)  # search() probes the larger
            yield f"ivf-sq8 nprobe {ivf.nprobe} candidates {k}", stored, k


def run(args) -> None:
    real = open_index(args.index, deep_check=False)
    questions = load_questions(str(args.questions))
    exact = exact_sentences(real)
    queries = np.stack([real.query_vector(q.question) for q in questions.questions])
    truth = None
    for name, sentence_index, k in variants(exact, real.sentence_vectors, args.nprobe, args.candidates):
        search_module.CANDIDATES = k
        searcher = Searcher(replace(real.index, sentence_vectors=sentence_index), real.embedder,
                            _questions=real._questions)
        fn = {"hybrid": lambda q, depth, exclude=(): search(searcher, q, k=depth, filters=Filters(exclude_letters=exclude))}
        started = time.perf_counter()
        evaluation = evaluate(questions, real.letters, fn)
        result = evaluation.results["hybrid"]
        tops = {q: [h.passage.id for h in hits[:10]] for q, hits in evaluation.runs["hybrid"].items()}
        truth = truth or tops  # the first variant is exact
        row = {"variant": name, "sentence_search_ms_p50": scan_ms(sentence_index, exact, queries, k),
               "eval_s": round(time.perf_counter() - started, 1), **figures(result),
               "top10_agreement_with_exact": round(float(np.mean([len(set(tops[q]) & set(truth[q])) / len(truth[q])
                                                                  for q in truth if truth[q]])), 4),
               "ranks": {r["id"]: r["rank"] for r in result["per_question"]}}
        print(json.dumps({k2: v for k2, v in row.items() if k2 != "ranks"}), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--index", type=Path, required=True)
    p.add_argument("--questions", type=Path, required=True)
    p.add_argument("--nprobe", type=int, nargs="+", default=[128, 512, 100_000])
    p.add_argument("--candidates", type=int, nargs="+", default=[1000, 10_000])
    p.add_argument("--out", type=Path)
    run(p.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
