"""A 1M-passage index in the on-disk layout `kamerqa index` writes at scale, grown from a real index, then
opened with the real `load_index` and measured: bytes a passage in memory, part by part
(bench/index_memory.py), resident memory, and search() p50/p95 (each question encoded inside its timing).

    python bench/scale_layout.py --index /work/idx/layout-large --size 1000000 --out /work/idx/layout-1m

Grown by whole letters: copies of real letters (same text and metadata, a new id "ID~copy") with all their
passages, so passages.jsonl, letters.jsonl and their offsets are what the build writes for such letters.
A copied passage's vector mixes its real one with 2-3 other real passages (as bench/scale_million.py does),
its sentences are the real sentence vectors moved by the same offset (float16 file), its BM25 row is the real
row (postings as in real text; the vocabulary stays the real one's, so it is counted apart below). The files
are written by index.store.save_index and index.layout (the build's own writers), the passage IVF-SQ8 by
index.build.choose_faiss_index. Vectors come from the embedding cache (the build's float32 vectors).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.index_memory import measure  # noqa: E402
from bench.scale_million import ROUNDS, agreement, exact_dense, read_questions, timed, tops_of  # noqa: E402
from bench.sentence_ann import exact_sentences  # noqa: E402
from index.build import EmbeddingCache, choose_faiss_index, embed_with_cache, faiss_kind  # noqa: E402
from index.documents import passage_document  # noqa: E402
from index.embed import cache_dir  # noqa: E402
from index.layout import SENTENCES_F16  # noqa: E402
from index.store import save_index  # noqa: E402
from qa import hints  # noqa: E402
from qa import search as qs  # noqa: E402
from qa.cli_bench import mixtures  # noqa: E402
from qa.search import open_index  # noqa: E402

CHUNK = 50_000  # passages whose sentence vectors are made at a time


class Grown:
    """Re-iterable copies: item j of `plan` is template item plan[j] as made by `make(template, j)`."""

    def __init__(self, templates: list, plan: np.ndarray, make):
        self.templates, self.plan, self.make = templates, plan, make

    def __len__(self) -> int:
        return len(self.plan)

    def __iter__(self):
        return (self.make(self.templates[t], j) for j, t in enumerate(self.plan))


def plan_letters(real, size: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(template letter of each letter, template passage of each passage, letter of each passage): the real
    letters once, then random real letters whole until `size` passages."""
    places = real.passages.places
    first = np.searchsorted(places[:, 0], np.arange(len(real.letters) + 1))
    counts = np.diff(first)
    rng = np.random.default_rng(seed)
    letters = list(range(len(real.letters)))
    total = int(counts.sum())
    while total < size:
        t = int(rng.integers(0, len(counts)))
        letters.append(t)
        total += int(counts[t])
    letters = np.array(letters, dtype=np.int64)
    passages = np.concatenate([np.arange(first[t], first[t + 1]) for t in letters])
    owner_letter = np.repeat(np.arange(len(letters)), counts[letters])
    return letters, passages, owner_letter


def grown_vectors(P: np.ndarray, template: np.ndarray, seed: int) -> np.ndarray:
    """Passage vectors: the real ones, then mixes of each template with 2-3 other real passages."""
    rng = np.random.default_rng(seed)
    vectors = np.empty((len(template), P.shape[1]), dtype=np.float32)
    vectors[:len(P)] = P
    for start in range(len(P), len(template), CHUNK):  # a chunk at a time: ~75 MB of float32 each
        part = template[start:start + CHUNK]
        weight = rng.uniform(0.4, 0.8, (len(part), 1)).astype(np.float32)
        block = weight * P[part] + (1 - weight) * mixtures(P, len(part), seed + start)
        vectors[start:start + len(part)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return vectors


def write_sentences(folder: Path, S: np.ndarray, real_owner: np.ndarray, P: np.ndarray, vectors: np.ndarray,
                    template: np.ndarray) -> None:
    """sentences.f16.npy and sentence_owner.npy: each passage's template sentences moved by its offset."""
    bounds = np.searchsorted(real_owner[:, 0], np.arange(len(P) + 1))
    counts = bounds[template + 1] - bounds[template]
    owner = np.stack([np.repeat(np.arange(len(template), dtype=np.int32), counts),
                      np.concatenate([real_owner[bounds[t]:bounds[t + 1], 1] for t in template])], 1)
    out = np.lib.format.open_memmap(str(folder / SENTENCES_F16), mode="w+", dtype=np.float16, shape=(len(owner), S.shape[1]))
    row = 0
    for start in range(0, len(template), CHUNK):
        part = template[start:start + CHUNK]
        rows = np.concatenate([np.arange(bounds[t], bounds[t + 1]) for t in part])
        own = owner[row:row + len(rows), 0]
        moved = S[rows] - P[template[own]] + vectors[own]
        out[row:row + len(rows)] = moved / np.linalg.norm(moved, axis=1, keepdims=True)
        row += len(rows)
    out.flush()
    np.save(folder / "sentence_owner.npy", owner)


def write_lexical(source: Path, folder: Path, template: np.ndarray) -> None:
    """The real BM25 files with a score matrix of len(template) passages: passage i has its template's row."""
    import scipy.sparse as sp

    arrays = {name: np.load(source / f"{name}.csc.index.npy") for name in ("data", "indices", "indptr")}
    params = json.loads((source / "params.index.json").read_text())
    csr = sp.csc_matrix((arrays["data"], arrays["indices"], arrays["indptr"]),
                        shape=(params["num_docs"], len(arrays["indptr"]) - 1)).tocsr()
    grown = csr[template].tocsc()
    folder.mkdir()
    np.save(folder / "data.csc.index.npy", grown.data.astype(arrays["data"].dtype))
    np.save(folder / "indices.csc.index.npy", grown.indices.astype(np.int32))
    np.save(folder / "indptr.csc.index.npy", grown.indptr.astype(np.int64))
    shutil.copy(source / "vocab.index.json", folder / "vocab.index.json")
    (folder / "params.index.json").write_text(json.dumps({**params, "num_docs": len(template)}))


def exact_agreement(path: Path, vectors: np.ndarray, questions: list[str]) -> float:
    """Share of exact search's top 10 that search() returns on the index at `path`. Exact = `hybrid_scores`
    with every passage's and every sentence's cosine (the float16 file streamed; bench/scale_million.py's
    `exact_dense`) and the index's own BM25 (`qa.search.bm25_scores`, translations included)."""
    searcher = open_index(path, deep_check=False)
    folder = path / searcher.manifest["generation"]
    texts = sorted({hints.content_question(q) for q in questions})
    row = {t: i for i, t in enumerate(texts)}
    passage, best = exact_dense(vectors, np.load(folder / SENTENCES_F16, mmap_mode="r"),
                                np.load(folder / "sentence_owner.npy")[:, 0], np.stack([searcher.query_vector(t) for t in texts]))

    def exact(index, text):
        dense = qs.PASSAGE_SHARE * passage[row[text]] + (1 - qs.PASSAGE_SHARE) * best[row[text]]
        lexical = qs.bm25_scores(index, text)
        top = float(lexical.max()) if lexical.size else 0.0
        return dense + (hints.lexical_weight(text) * lexical / top if top > 0 else 0.0)

    qs.RETRIEVERS["exact"] = exact
    try:
        truth = tops_of(searcher, questions, "exact")
    finally:
        del qs.RETRIEVERS["exact"]
    return agreement(tops_of(searcher, questions), truth)


def grow(real, args, log) -> np.ndarray:
    started = time.perf_counter()
    source = real.path / real.manifest["generation"]
    cache = EmbeddingCache(cache_dir() / "embeddings.sqlite", real.embedder.fingerprint)
    header = real.manifest["settings"]["header"]
    templates_p = list(real.passages)
    P, _ = embed_with_cache([passage_document(p, real.letters[p.letter_id], header) for p in templates_p],
                            real.embedder, cache)
    S = exact_sentences(real)
    letter_plan, template, letter_of = plan_letters(real, args.size, args.seed)
    vectors = grown_vectors(P, template, args.seed)
    index = choose_faiss_index(vectors, approximate=True)
    log({"step": "vectors and passage IVF", "passages": len(template), "letters": len(letter_plan),
         "faiss": faiss_kind(index), "s": round(time.perf_counter() - started, 1)})
    templates_l = list(real.letters.values())
    copy_id = lambda t, j: templates_l[t].id if j < len(templates_l) else f"{templates_l[t].id}~{j}"  # noqa: E731
    letters = Grown(templates_l, letter_plan, lambda letter, j: replace(letter, id=copy_id(letter_plan[j], j)))
    passages = Grown(templates_p, template,
                     lambda p, j: replace(p, letter_id=copy_id(letter_plan[letter_of[j]], letter_of[j])))

    def write_arrays(folder: Path) -> None:
        import faiss

        faiss.write_index(index, str(folder / "passages.faiss"))
        write_sentences(folder, S, np.asarray(real.sentence_owner), P, vectors, template)
        write_lexical(source / "lexical", folder / "lexical", template)

    manifest = {k: real.manifest[k] for k in ("model", "model_fingerprint", "dimension", "precision", "settings",
                                              "chunker") if k in real.manifest}
    save_index(args.out, {**manifest, "corpus_fingerprint": f"grown-{args.size}", "faiss": faiss_kind(index),
                          "scale_from": real.manifest.get("scale_from"), "sentence_vectors": "float16-file"},
               letters, passages, write_arrays)
    log({"step": "written", "folder": str(args.out), "s": round(time.perf_counter() - started, 1)})
    return vectors


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--index", type=Path, required=True, help="a real index in the layout at scale (--scale-from)")
    p.add_argument("--size", type=int, default=1_000_000)
    p.add_argument("--out", type=Path, required=True, help="folder for the grown index (replaced)")
    p.add_argument("--questions", type=Path, default=Path(__file__).resolve().parents[2] / "shared/eval/dev_questions.jsonl")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-grow", action="store_true", help="measure the index already in --out")
    p.add_argument("--agreement-questions", type=Path, help="also the top-10 agreement with exact search on these "
                   "questions (needs the grown vectors: not with --skip-grow)")
    args = p.parse_args(argv)

    def log(row: dict) -> None:
        print(json.dumps(row), flush=True)
    questions = read_questions(args.questions)
    if not args.skip_grow:
        real = open_index(args.index, deep_check=False)
        vectors = grow(real, args, log)
        del real
        if args.agreement_questions:
            started = time.perf_counter()
            judged = read_questions(args.agreement_questions)
            log({"step": "agreement", "questions": len(judged), "candidates": qs.CANDIDATES,
                 "passage_nprobe": qs.PASSAGE_NPROBE, "top10_agreement_with_exact": exact_agreement(args.out, vectors, judged),
                 "s": round(time.perf_counter() - started, 1)})
        del vectors
    log({"step": "memory", **measure(args.out, questions[:20])})
    searcher = open_index(args.out, deep_check=False)
    figures, _ = timed(searcher, questions, rounds=ROUNDS)
    log({"step": "search", "questions": len(questions), "rounds": ROUNDS, **figures})
    return 0


if __name__ == "__main__":
    sys.exit(main())
