"""How much BM25 should weigh for English questions, with and without the Dutch translations of their words.

    PYTHONPATH=. python eval/english_lexical.py --cache /tmp/kq-answers [--index DIR] [--weights 0 0.01 0.02 0.03 0.05]

For every English question of the dev sets (the 50, eval/dev_nl.jsonl, eval/dev_en.jsonl): sentence-level
dense scores plus `weight` x max-normalised BM25 of (a) the question's own terms, (b) those plus the Dutch
translations of its content words (`qa.translate`, as `qa.search.bm25_scores` does), (c) the translations
only. Prints letter Hit@1 and MRR@10 (the first passage of a gold letter). Question vectors are cached in
--cache (shared with eval/answers.py).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from answers import DEV, CachedEmbedder
from index.store import default_index_dir, load_index
from qa import hints
from qa.gold import resolve_gold
from qa.questions import load_questions
from qa.search import sentence_scores, translated_terms
from qa.searcher import Searcher

EVAL = Path(__file__).parent
DEV_SETS = DEV + [EVAL / "dev_nl.jsonl", EVAL / "dev_en.jsonl"]


def english_questions(index) -> list[tuple[str, set[str]]]:
    """(question, its gold letters) of every English dev question."""
    out = []
    for path in DEV_SETS:
        questions = load_questions(path).questions
        gold, _ = resolve_gold(questions, index.letters)
        out += [(q.question, {s.doc_id for s in gold[q.id]}) for q in questions
                if q.id in gold and hints.language(q.question) == "en"]
    return out


def letter_ranks(index, questions, weight: float, own: bool, translated: bool) -> list[int | None]:
    letters = np.array([p.letter_id for p in index.passages])
    ranks = []
    for question, gold in questions:
        lexical = index.lexical.scores(question if own else "", translated_terms(question) if translated else ())
        top = float(lexical.max())
        scores = sentence_scores(index, question) + (weight * lexical / top if top > 0 else 0.0)
        order = np.argsort(-scores)[:10]
        ranks.append(next((n + 1 for n, i in enumerate(order) if letters[i] in gold), None))
    return ranks


def figures(ranks: list[int | None]) -> tuple[float, float]:
    """(letter Hit@1, letter MRR@10)."""
    return (round(sum(r == 1 for r in ranks) / len(ranks), 3), round(sum(1 / r for r in ranks if r) / len(ranks), 3))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path, default=None)
    ap.add_argument("--cache", type=Path, required=True, help="scratch folder for question vectors")
    ap.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.01, 0.02, 0.03, 0.05])
    args = ap.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    loaded = load_index(args.index or Path(default_index_dir()), deep_check=False)
    index = Searcher(loaded, CachedEmbedder(loaded.manifest["model"], args.cache / "query_vectors.pkl"))
    questions = english_questions(index)
    print(f"{len(questions)} English dev questions on {index.path}; letter Hit@1, MRR@10")
    for weight in args.weights:
        print(f"  weight {weight:.2f}: own terms {figures(letter_ranks(index, questions, weight, True, False))}  "
              f"+ translations {figures(letter_ranks(index, questions, weight, True, True))}  "
              f"translations only {figures(letter_ranks(index, questions, weight, False, True))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
