"""Vector index types against corpus size: latency, memory and recall@10 on synthetic passages.

    python bench/scale.py --sizes 10000 100000 1000000 --out docs/scale.json [--index /tmp/kq-index]

Synthetic vectors keep the geometry of real ones: each is a random convex mix of 2-3 real passage or
sentence vectors of the given index (multilingual-e5-small), renormalised (until 2026-11-30 they were
noisy copies of single real vectors, ~147 per vector at 1M, which made probing depth irrelevant).
Queries are drawn the same way (and are not in the collection). Recall@10 is against
exact inner-product search; latency is one query at a time, 2 threads, after a warm-up.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def real_vectors(index_dir: Path | None, dim: int = 384) -> np.ndarray:
    """Passage and sentence vectors of a real index, or random directions when there is none."""
    if index_dir and (Path(index_dir) / "manifest.json").exists():
        from index.store import load_index

        index = load_index(Path(index_dir), deep_check=False)
        parts = [index.vectors.reconstruct_n(0, index.vectors.ntotal)]
        if index.sentence_vectors is not None:
            parts.append(index.sentence_vectors.reconstruct_n(0, index.sentence_vectors.ntotal))
        return np.vstack(parts).astype(np.float32)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((20_000, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def synthetic(centres: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Random convex mixes of 2-3 real vectors, renormalised (qa/cli_bench.py's `mixtures`)."""
    from qa.cli_bench import mixtures

    return mixtures(centres, n, seed)


def make(kind: str, vectors: np.ndarray):
    """A trained, filled faiss index of `kind` (the factory names used in docs/PERFORMANCE.md)."""
    import faiss

    n, dim = vectors.shape
    nlist = int(min(max(4 * np.sqrt(n), 64), 8192))
    factory = {"flat": "Flat", "hnsw32": "HNSW32", "ivf-flat": f"IVF{nlist},Flat",
               "ivf-sq8": f"IVF{nlist},SQ8", "ivf-pq48": f"IVF{nlist},PQ48x8"}[kind]
    index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    if kind == "hnsw32":
        index.hnsw.efConstruction = 40
    if not index.is_trained:
        rng = np.random.default_rng(0)
        index.train(vectors[rng.choice(n, min(n, 40 * nlist), replace=False)])
    index.add(vectors)
    return index


def set_effort(index, kind: str, effort: int) -> None:
    import faiss

    if kind == "hnsw32":
        index.hnsw.efSearch = effort
    elif kind.startswith("ivf"):
        faiss.extract_index_ivf(index).nprobe = effort


EFFORTS = {"flat": [0], "hnsw32": [32, 64, 128], "ivf-flat": [16, 32, 64],
           "ivf-sq8": [16, 32, 64, 128, 256], "ivf-pq48": [32, 64]}


def measure(index, queries: np.ndarray, truth: np.ndarray, k: int = 10) -> dict:
    import faiss

    index.search(queries[:5], k)
    times, found = [], []
    for q in queries:
        started = time.perf_counter()
        _, ids = index.search(q[None, :], k)
        times.append((time.perf_counter() - started) * 1000)
        found.append(ids[0])
    recall = float(np.mean([len(set(f) & set(t)) / k for f, t in zip(found, truth)]))
    size = faiss.serialize_index(index).nbytes
    return {"p50_ms": round(float(np.percentile(times, 50)), 3), "p95_ms": round(float(np.percentile(times, 95)), 3),
            "recall_at_10": round(recall, 4), "bytes_per_passage": round(size / index.ntotal, 1)}


def run(sizes: list[int], kinds: list[str], index_dir: Path | None, n_queries: int = 200, log=print) -> list[dict]:
    import faiss

    faiss.omp_set_num_threads(2)
    centres = real_vectors(index_dir)
    rows = []
    for n in sizes:
        vectors = synthetic(centres, n, seed=n)
        queries = synthetic(centres, n_queries, seed=7)
        exact = faiss.IndexFlatIP(vectors.shape[1])
        exact.add(vectors)
        _, truth = exact.search(queries, 10)
        del exact
        for kind in kinds:
            started = time.perf_counter()
            index = make(kind, vectors)
            build_s = time.perf_counter() - started
            for effort in EFFORTS[kind]:
                set_effort(index, kind, effort)
                row = {"passages": n, "index": kind, "effort": effort, "build_s": round(build_s, 1),
                       **measure(index, queries, truth)}
                rows.append(row)
                log(json.dumps(row))
            del index
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--kinds", nargs="+", default=list(EFFORTS))
    p.add_argument("--index", type=Path, default=None, help="a real index to draw vector shapes from")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    rows = run(args.sizes, args.kinds, args.index, args.queries, log=lambda s: print(s, flush=True))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
