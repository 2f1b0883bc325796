"""Score combinations on a built index without re-embedding: prints MRR@10 / Hit@1 / Hit@5 per variant.

    python eval/ablation.py --index DIR [--questions FILE]

A development tool for docs/RETRIEVAL.md; `kamerqa eval` gives the figures that count.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from qa import hints
from qa.evaluate import MIN_OVERLAP, passage_answers
from qa.gold import resolve_gold
from qa.questions import load_questions
from qa.search import bm25_scores, dense_scores, open_index, query_vector, sentence_matrix


CHUNK = 50_000  # sentence rows read at a time from a store that is not one matrix (IVF, float16 file)


def all_sentence_cosines(index, v: np.ndarray) -> np.ndarray:
    """Every sentence's cosine to `v`, from a flat matrix or, chunk by chunk, from rows read on demand."""
    matrix, n = sentence_matrix(index), len(index.sentence_owner)
    if isinstance(matrix, np.ndarray):
        return matrix @ v
    return np.concatenate([np.asarray(matrix[np.arange(s, min(s + CHUNK, n))], dtype=np.float32) @ v
                           for s in range(0, n, CHUNK)])


def features(index, questions):
    """Per question: passage cosine, best-sentence cosine, BM25 (max-normalised), metadata boost."""
    rows = []
    for q in questions:
        v = query_vector(index, q.question)
        passage = dense_scores(index, q.question, v)
        best = passage.copy()
        np.maximum.at(best, index.sentence_owner[:, 0], all_sentence_cosines(index, v))
        lexical = bm25_scores(index, q.question)
        top = lexical.max()
        rows.append({"passage": passage, "sentence": best, "bm25": lexical / top if top > 0 else lexical,
                     "boost": np.asarray(hints.metadata_boost(index, q.question)) + np.zeros(len(passage)),
                     "lang": hints.language(q.question), "keywords": hints.is_keyword_query(q.question)})
    return rows


def rank_of(scores, index, spans):
    order = np.argsort(-scores)[:10]
    for r, i in enumerate(order, start=1):
        if any(passage_answers(index.passages[i], s, MIN_OVERLAP) for s in spans):
            return r
    return None


def report(name, ranks, langs):
    def stats(rs):
        mrr = np.mean([1 / r if r else 0 for r in rs])
        return f"hit@1 {np.mean([r == 1 for r in rs]):.3f} hit@5 {np.mean([bool(r) and r <= 5 for r in rs]):.3f} mrr {mrr:.3f}"
    en = [r for r, l in zip(ranks, langs) if l == "en"]
    nl = [r for r, l in zip(ranks, langs) if l == "nl"]
    print(f"{name:40s} all {stats(ranks)} | en {stats(en)} | nl {stats(nl)}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--questions", type=Path, default=Path("../shared/eval/dev_questions.jsonl"))
    args = ap.parse_args()
    index = open_index(args.index)
    qset = load_questions(args.questions)
    gold, _ = resolve_gold(qset.questions, index.letters, 90.0)
    qs = [q for q in qset.questions if q.id in gold]
    feats = features(index, qs)
    langs = [q.lang for q in qs]

    def run(name, combine):
        report(name, [rank_of(combine(f), index, gold[q.id]) for q, f in zip(qs, feats)], langs)

    run("dense", lambda f: f["passage"])
    run("best sentence", lambda f: f["sentence"])
    for a in (0.3, 0.5, 0.7):
        run(f"{a} passage + {1-a} sentence", lambda f, a=a: a * f["passage"] + (1 - a) * f["sentence"])
    run("bm25", lambda f: f["bm25"])
    for w in (0.02, 0.05, 0.08, 0.12, 0.2):
        run(f"sent50 + {w} bm25", lambda f, w=w: 0.5 * f["passage"] + 0.5 * f["sentence"] + w * f["bm25"])
    run("current hybrid + boost", lambda f: 0.5 * f["passage"] + 0.5 * f["sentence"] + f["boost"] +
        hints.LEXICAL_WEIGHTS["en" if f["lang"] == "en" else ("keywords" if f["keywords"] else "nl")] * f["bm25"])


if __name__ == "__main__":
    main()
