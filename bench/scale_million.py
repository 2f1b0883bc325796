"""`search()` at up to 1M passages and their ~5.6M sentences, within a bounded memory: the real pipeline
(qa.search.search: hybrid = sentence-level dense + BM25 + the question's hints, each question encoded
inside its timing) against an exact reference computed in chunks.

    python bench/scale_million.py --index /work/idx/scale-large --size 1000000 --work /work/idx/scale-1m --out OUT.jsonl

Data (grown from the real index, as bench/scale_search.py does): the real passages first, then passages
whose vector is a random mix of a real "template" passage and 2-3 other real ones (renormalised); their
sentences are the template's real sentence vectors (from the embedding cache: the build's float32
vectors) moved by the same offset, renormalised and kept as float16 in a file on disk (`--work`); their
BM25 row is the template's row of the real BM25 matrix (postings per passage as in real text, posting
lists 1/real-share longer); their letter is the template's (real dates and senders for the hints).
Passage objects are made on demand from the template (`GrownPassages`), never all held.

Exact reference: flat cosines of every passage and every sentence (the float16 file streamed in chunks),
combined as `qa.search.hybrid_scores` combines them, run through `search()` itself as a retriever
(`--check` compares it with search() on flat indexes at sizes that fit).

Sentence storage compared (`--sentences`):
  top-sq8   8-bit scalar codes in memory; only the sentences of the top passage candidates are scored
  top-disk  the float16 file, memory-mapped; only the top passage candidates' sentences are read
  ann-sq8   IVF-SQ8 over all sentences (what build_index makes today); slow to build at 1M
"""
from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import qa.search as qs  # noqa: E402
from bench.sentence_ann import exact_sentences  # noqa: E402
from index.build import choose_faiss_index, faiss_kind  # noqa: E402
from index.layout import DiskVectors  # noqa: E402
from index.store import Index  # noqa: E402
from qa import hints  # noqa: E402
from qa.cli_bench import _spread, mixtures  # noqa: E402
from qa.footprint import faiss_bytes  # noqa: E402
from qa.searcher import Searcher  # noqa: E402

ROUNDS = 3
CHUNK = 50_000  # passages generated / streamed at a time (~2 GB of float32 sentence rows at most)


class GrownPassages:
    """Passage i: the real passage i, or (beyond the real ones) its template's with a new id."""

    def __init__(self, real: list, template: np.ndarray):
        self.real, self.template = real, template

    def __len__(self) -> int:
        return len(self.template)

    def __getitem__(self, i):
        p = self.real[int(self.template[i])]
        return p if i < len(self.real) else replace(p, start=p.start + 10**9 + int(i))

    def __iter__(self):  # what letter_facts reads: the letter (the template's)
        return (self.real[t] for t in self.template)


def disk_rows(array: np.ndarray) -> DiskVectors:
    """The float16 file behind the memory-mapped `array`, as `kamerqa index` keeps sentence vectors at scale."""
    return DiskVectors(Path(array.filename), array.shape[1], "the bench writes it again: rerun it")


def grow(real: Searcher, exact_s: np.ndarray, n: int, work: Path, seed: int = 0):
    """(passage vectors float32, float16 sentence file, owner, template) for n passages."""
    rng = np.random.default_rng(seed)
    P = real.vectors.reconstruct_n(0, real.vectors.ntotal)
    n_real = len(P)
    bounds = np.searchsorted(real.sentence_owner[:, 0], np.arange(n_real + 1))
    template = np.concatenate([np.arange(min(n, n_real)), rng.integers(0, n_real, max(0, n - n_real))])
    vectors = np.empty((n, P.shape[1]), dtype=np.float32)
    vectors[:min(n, n_real)] = P[:n]
    extra = max(0, n - n_real)
    if extra:
        mixed = mixtures(P, extra, seed)
        weight = rng.uniform(0.4, 0.8, (extra, 1)).astype(np.float32)
        block = weight * P[template[n_real:]] + (1 - weight) * mixed
        vectors[n_real:] = block / np.linalg.norm(block, axis=1, keepdims=True)
        del mixed, block
    counts = bounds[template + 1] - bounds[template]
    owner = np.repeat(np.arange(n, dtype=np.int32), counts)
    work.mkdir(parents=True, exist_ok=True)
    sentences = np.lib.format.open_memmap(str(work / f"sentences-{n}.f16.npy"), mode="w+", dtype=np.float16,
                                          shape=(len(owner), P.shape[1]))
    row = 0
    for start in range(0, n, CHUNK):
        part = np.arange(start, min(n, start + CHUNK))
        rows = np.concatenate([np.arange(bounds[t], bounds[t + 1]) for t in template[part]])
        own = owner[row:row + len(rows)]
        moved = exact_s[rows] - P[template[own]] + vectors[own]
        sentences[row:row + len(rows)] = moved / np.linalg.norm(moved, axis=1, keepdims=True)
        row += len(rows)
    sentences.flush()
    return vectors, sentences, np.stack([owner, np.zeros_like(owner)], 1), template


def grown_lexical(real: Searcher, template: np.ndarray, dtype: str):
    """The real BM25 object with a score matrix of len(template) passages: passage i has its template's row."""
    import copy

    import scipy.sparse as sp

    bm25 = real.lexical.bm25
    s = bm25.scores
    n_real = s["num_docs"]
    csr = sp.csc_matrix((s["data"], s["indices"], s["indptr"]), shape=(n_real, len(s["indptr"]) - 1)).tocsr()
    grown = csr[template].tocsc()
    del csr
    scores = {"data": grown.data.astype(dtype), "indices": grown.indices.astype(np.int32),
              "indptr": grown.indptr.astype(np.int64), "num_docs": len(template)}
    if hasattr(bm25, "__dataclass_fields__"):  # index.lexical.SavedBM25 (frozen)
        new = replace(bm25, scores=scores)
    else:
        new = copy.copy(bm25)
        new.scores = scores
    return replace(real.lexical, bm25=new) if hasattr(real.lexical, "__dataclass_fields__") else new


def exact_dense(vectors: np.ndarray, sentences: np.ndarray, owner: np.ndarray, Q: np.ndarray):
    """(passage cosines, best sentence cosine or the passage's own) for each query: arrays (queries, n)."""
    n = len(vectors)
    passage = np.empty((len(Q), n), dtype=np.float32)
    best = np.empty((len(Q), n), dtype=np.float32)
    bounds = np.searchsorted(owner, np.arange(n + 1))
    for start in range(0, n, CHUNK):
        end = min(n, start + CHUNK)
        pc = vectors[start:end] @ Q.T  # (m, queries)
        passage[:, start:end] = pc.T
        b = pc.copy()
        lo, hi = bounds[start], bounds[end]
        if hi > lo:
            sc = np.asarray(sentences[lo:hi], dtype=np.float32) @ Q.T
            have = np.flatnonzero(bounds[start + 1:end + 1] > bounds[start:end]) + start
            b[have - start] = np.maximum(b[have - start], np.maximum.reduceat(sc, bounds[have] - lo, axis=0))
        best[:, start:end] = b.T
    return passage, best


def exact_retriever(texts: list[str], passage: np.ndarray, best: np.ndarray, bm25):
    """A retriever for search(): qa.search.hybrid_scores with exact dense scores looked up by the text, and
    BM25 from the float32 matrix `bm25`."""
    row = {t: i for i, t in enumerate(texts)}

    def scores(index, text):
        i = row[text]
        dense = qs.PASSAGE_SHARE * passage[i] + (1 - qs.PASSAGE_SHARE) * best[i]
        lexical = bm25.scores(text)
        top = float(lexical.max()) if lexical.size else 0.0
        return dense + (hints.lexical_weight(text) * lexical / top if top > 0 else 0.0)
    return scores


def sentence_store(kind: str, sentences: np.ndarray):
    import faiss

    d = sentences.shape[1]
    if kind == "top-disk":
        return disk_rows(sentences)
    sample = np.sort(np.random.default_rng(0).choice(len(sentences), min(len(sentences), 200_000), replace=False))
    if kind == "top-sq8":
        index = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        index.train(np.asarray(sentences[sample], dtype=np.float32))
        for start in range(0, len(sentences), 500_000):
            index.add(np.asarray(sentences[start:start + 500_000], dtype=np.float32))
        return index
    if kind == "flat":
        return choose_faiss_index(np.asarray(sentences, dtype=np.float32), approximate=False)
    return choose_faiss_index(sentences, approximate=True)  # ann-sq8 (adds 100k float32 rows at a time)


def timed(searcher: Searcher, questions: list[str], retriever: str = "hybrid", rounds: int = ROUNDS):
    qs.search(searcher, questions[0], k=10, retriever=retriever)
    p50, p95, tops = [], [], {}
    for _ in range(rounds):
        times = []
        for q in questions:
            searcher.forget_questions()
            started = time.perf_counter()
            hits = qs.search(searcher, q, k=10, retriever=retriever)
            times.append((time.perf_counter() - started) * 1000)
            tops[q] = [h.passage.id for h in hits]
        p50.append(float(np.percentile(times, 50)))
        p95.append(float(np.percentile(times, 95)))
    return {"p50_ms": round(float(np.median(p50)), 1), "p95_ms": round(float(np.median(p95)), 1),
            "p95_spread": _spread(p95, 1)}, tops


def agreement(found: dict, truth: dict) -> float:
    return round(float(np.mean([len(set(found[q]) & set(truth[q])) / max(1, len(truth[q])) for q in truth])), 4)


def memory_parts(searcher: Searcher, store, n: int) -> dict:
    """Bytes per passage that the index keeps in memory for search() (the sentence file on disk is not)."""
    bm25 = searcher.lexical.bm25.scores
    facts = searcher.facts
    parts = {"passage_vectors": faiss_bytes(searcher.vectors),
             "sentence_vectors": 0 if isinstance(store, DiskVectors) else faiss_bytes(store),
             "sentence_owner": searcher.sentence_owner.nbytes, "sentence_bounds": searcher.sentence_bounds.nbytes,
             "bm25_matrix": sum(v.nbytes for v in bm25.values() if hasattr(v, "nbytes")),
             "hint_facts": facts.year.nbytes + facts.month.nbytes + facts.letter_of.nbytes,
             "passage_locator": searcher.passages.template.nbytes}
    out = {"total": round(sum(parts.values()) / n, 1), **{k: round(v / n, 1) for k, v in parts.items()}}
    if isinstance(store, DiskVectors):
        out["on_disk_sentence_vectors"] = round(store.array.nbytes / n, 1)
    if isinstance(searcher.__dict__.get("passage_matrix"), DiskVectors):
        out["on_disk_passage_vectors"] = round(searcher.__dict__["passage_matrix"].array.nbytes / n, 1)
    return out


def rss() -> dict:
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    mb = lambda k: round(int(status[k].split()[0]) / 1024)  # noqa: E731
    return {"rss_mb": mb("VmRSS"), "anon_mb": mb("RssAnon"), "file_mb": mb("RssFile"),
            "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def read_questions(path: Path) -> list[str]:
    return [json.loads(line)["question"] for line in path.read_text().splitlines() if line.strip()]


def make_searcher(real: Searcher, passages, pindex, store, owner, lexical, passage_rows=None) -> Searcher:
    searcher = Searcher(Index(real.path, dict(real.manifest), real.letters, passages, pindex, store, owner, lexical),
                        real.embedder)
    if isinstance(store, DiskVectors):
        searcher.__dict__["sentence_matrix"] = store
    if passage_rows is not None:  # candidates re-scored from float16 rows on disk, not from the SQ8 codes
        searcher.__dict__["passage_matrix"] = disk_rows(passage_rows)
    return searcher


def tops_of(searcher: Searcher, questions: list[str], retriever: str = "hybrid") -> dict:
    return {q: [h.passage.id for h in qs.search(searcher, q, k=10, retriever=retriever)] for q in questions}


def reference(args, real: Searcher, questions: list[str], judged: list[str], log):
    """The grown data, its passage index, and exact search's top 10 for the `judged` questions."""
    started = time.perf_counter()
    exact_s = exact_sentences(real)
    vectors, sentences, owner, template = grow(real, exact_s, args.size, args.work)
    del exact_s
    lexical32 = grown_lexical(real, template, "float32")
    lexical = lexical32 if args.bm25_dtype == "float32" else grown_lexical(real, template, args.bm25_dtype)
    texts = sorted({hints.content_question(q) for q in questions + judged})
    Q = np.stack([real.query_vector(t) for t in texts])
    passage, best = exact_dense(vectors, sentences, owner[:, 0], Q)
    base = {"passages": args.size, "sentences": len(owner), "bm25_dtype": args.bm25_dtype,
            "candidates": qs.CANDIDATES, "timed_questions": len(questions), "agreement_questions": len(judged),
            "data_and_exact_s": round(time.perf_counter() - started, 1)}
    started = time.perf_counter()
    passage_index = choose_faiss_index(vectors, approximate=args.size >= args.ann_from)
    passage_rows = np.lib.format.open_memmap(str(args.work / f"passages-{args.size}.f16.npy"), mode="w+",
                                             dtype=np.float16, shape=vectors.shape)
    passage_rows[:] = vectors
    passage_rows.flush()
    base |= {"passage_index": faiss_kind(passage_index), "passage_index_s": round(time.perf_counter() - started, 1)}
    passages = GrownPassages(real.passages, template)
    searcher = make_searcher(real, passages, passage_index,
                             sentence_store("top-disk", sentences), owner, lexical32)
    qs.RETRIEVERS["exact"] = exact_retriever(texts, passage, best, lexical32)
    truth = tops_of(searcher, judged, "exact")
    del qs.RETRIEVERS["exact"], searcher, passage, best
    if args.check:  # search() itself on flat indexes must give the reference's top 10
        flat = make_searcher(real, passages, choose_faiss_index(vectors, approximate=False),
                             sentence_store("flat", sentences), owner, lexical32)
        log({**base, "check_flat_search_agreement_with_reference": agreement(tops_of(flat, judged), truth)})
        del flat
    del vectors
    gc.collect()
    log({**base, **rss()})
    return base, passages, passage_index, passage_rows, sentences, owner, lexical, truth


def run(args, log) -> None:
    import faiss

    real = qs.open_index(args.index, deep_check=False)
    if args.candidates:
        qs.CANDIDATES = args.candidates
    questions = read_questions(args.questions)
    judged = read_questions(args.agreement_questions) if args.agreement_questions else questions
    base, passages, passage_index, passage_rows, sentences, owner, lexical, truth = reference(
        args, real, questions, judged, log)
    ivf = faiss.extract_index_ivf(passage_index) if "IVF" in type(passage_index).__name__ else None
    for kind in args.sentences:
        started = time.perf_counter()
        store = sentence_store(kind, sentences)
        built = round(time.perf_counter() - started, 1)
        for rows in args.passage_rows:
            searcher = make_searcher(real, passages, passage_index, store, owner, lexical,
                                     passage_rows if rows == "disk" else None)
            for nprobe in (args.passage_nprobe or [0]) if ivf is not None else [0]:
                if nprobe:  # what the index says, and what search() asks for (it probes the larger)
                    ivf.nprobe = qs.PASSAGE_NPROBE = nprobe
                figures, _ = timed(searcher, questions, rounds=args.rounds)
                others = {f"{name}_ms": timed(searcher, questions, name, args.rounds)[0] for name in args.also_time}
                row = {**base, "sentences_kept": kind, "passage_rows": rows, "passage_nprobe": ivf.nprobe if ivf else 0,
                       "build_s": built, **figures, "top10_agreement_with_exact": agreement(tops_of(searcher, judged), truth),
                       **others, "bytes_per_passage": memory_parts(searcher, store, args.size), **rss()}
                log(row)
            del searcher
        del store
        gc.collect()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--index", type=Path, required=True, help="a real index with sentence vectors in the embedding cache")
    p.add_argument("--size", type=int, default=1_000_000)
    p.add_argument("--sentences", nargs="+", default=["top-sq8", "top-disk"])
    p.add_argument("--check", action="store_true", help="also search() with flat indexes (must agree 1.0 with the reference)")
    p.add_argument("--ann-from", type=int, default=50_000, help="passage index approximate from this size (build's ANN_THRESHOLD)")
    p.add_argument("--bm25-dtype", default="float32")
    p.add_argument("--passage-nprobe", type=int, nargs="+", default=[], help="IVF lists probed for passages (default: as built)")
    p.add_argument("--candidates", type=int, default=0, help="qa.search.CANDIDATES (default: as in the code)")
    p.add_argument("--passage-rows", nargs="+", choices=["codes", "disk"], default=["codes"],
                   help="candidates re-scored from the faiss codes (SQ8) or from float16 rows on disk")
    p.add_argument("--questions", type=Path, default=Path(__file__).resolve().parents[2] / "shared/eval/dev_questions.jsonl")
    p.add_argument("--agreement-questions", type=Path, help="questions for the top-10 agreement (default: --questions)")
    p.add_argument("--rounds", type=int, default=ROUNDS)
    p.add_argument("--also-time", nargs="*", default=[], choices=sorted(qs.RETRIEVERS),
                   help="retrievers timed besides hybrid (e.g. bm25 dense)")
    p.add_argument("--work", type=Path, required=True, help="folder for the float16 sentence file")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)

    def log(row: dict) -> None:
        print(json.dumps(row), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")
    run(args, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
