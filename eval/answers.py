"""Fit and ablate the answer: the sentence score of `qa.quote` and the abstention model of `qa.abstain`.

    python eval/answers.py --cache /tmp/kq-answers [--index DIR] [--dev FILE ...] [--unanswerable FILE ...] [--fit]

Every dev question is searched as asked and with its gold letter(s) left out (a near miss the letters
cannot answer); the unanswerable questions as asked. Question vectors and hits are cached in --cache,
so a second run needs no model. A third of the questions (by a hash of their id) is held out: the models
are fit on the rest and every figure is printed for both parts. Without --fit the weights in the modules
are measured; with --fit the fitted weights are printed (paste them into qa/quote.py and qa/abstain.py).
The ablations refit without one signal at a time.
"""
from __future__ import annotations

import argparse
import pickle
import statistics
from pathlib import Path

import numpy as np

from answer_fit import (FOLDS, abstain_shares, aligned, cross_validated_abstention, fit_abstention, fit_logistic, fold,
                        held_out, held_out_table, source, threshold_for)
from corpus.models import Hit
from index.store import default_index_dir, load_index
from qa import abstain, hints, quote
from qa.answer_eval import quote_matches, read_unanswerable
from qa.gold import resolve_gold
from qa.questions import load_questions
from qa.search import Filters, search
from qa.searcher import Searcher

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEV = [SHARED / "eval/dev_questions.jsonl"]
UNANSWERABLE = [Path(__file__).parent / "unanswerable.jsonl"]
MAX_WORDS = [quote.MAX_BLOCK_WORDS]  # --max-words: the block size the quote figures are measured at


class CachedEmbedder:
    """Question vectors from a file; the model is loaded only for a question not seen before."""

    def __init__(self, model: str, path: Path):
        self.model, self.path, self.embedder = model, path, None
        self.cache = pickle.loads(path.read_bytes()) if path.exists() else {}

    def encode_queries(self, texts):
        missing = [t for t in texts if t not in self.cache]
        if missing:
            from index.embed import load_embedder

            self.embedder = self.embedder or load_embedder(self.model)
            self.cache |= dict(zip(missing, self.embedder.encode_queries(missing)))
            self.path.write_bytes(pickle.dumps(self.cache))
        return np.stack([self.cache[t] for t in texts])


def cases(index, dev_paths, unanswerable_paths, cache: Path) -> list[dict]:
    """One case per search: {kind: dev|left_out|unanswerable, id, question, gold, hits}."""
    hits_file = cache / f"hits-{index.manifest['generation']}.pkl"
    stored = pickle.loads(hits_file.read_bytes()) if hits_file.exists() else {}
    out = []

    def run(kind, qid, text, gold=(), exclude=()):
        key = (text, exclude)
        if key not in stored:
            found = search(index, text, k=10, filters=Filters(exclude_letters=exclude))
            stored[key] = [(h.passage.id, h.score, h.confidence) for h in found]
        by_id = index.passages_by_id
        hits = [Hit(by_id[pid], s, index.letters[by_id[pid].letter_id], c) for pid, s, c in stored[key]]
        out.append({"kind": kind, "id": qid, "question": text, "gold": gold, "hits": hits, "held_out": held_out(qid)})

    for path in dev_paths:
        question_set = load_questions(path)
        gold, _ = resolve_gold(question_set.questions, index.letters)
        for q in question_set.questions:
            if q.id in gold:
                run("dev", q.id, q.question, gold[q.id])
                run("left_out", q.id, q.question, gold[q.id], tuple(sorted({s.doc_id for s in gold[q.id]})))
    for path in unanswerable_paths:
        for n, text in enumerate(read_unanswerable(path)):
            run("unanswerable", f"{path.name}:{n}", text)
    hits_file.write_bytes(pickle.dumps(stored))
    return out


def sentence_data(index, items):
    """Per case its candidate sentences and their labels (overlaps a gold quote)."""
    out = []
    for case in items:
        found = quote.candidates(index, case["question"], case["hits"])
        labels = [float(quote_matches(case["hits"][s.rank].letter.id, *s.span, case["gold"])) for s in found]
        out.append((case, found, np.array(labels)))
    return out


def fit_sentences(data, drop: int | None = None) -> np.ndarray:
    x = np.vstack([np.array([s.features for s in found]) for _, found, _ in data if found])
    y = np.concatenate([labels for _, found, labels in data if found])
    if drop is not None:
        x[:, drop] = 0.0
    return fit_logistic(x, y)


def quote_figures(data, weights, max_words: int | None = None) -> tuple[float, float]:
    """(answer@1 of the chosen block, ignoring abstention; median words quoted)."""
    right, words = [], []
    for case, found, _ in data:
        q = quote.best_block(found, case["hits"], weights, MAX_WORDS[0] if max_words is None else max_words)
        if q is None:
            right.append(0.0)
            continue
        hit = case["hits"][q.rank]
        right.append(float(quote_matches(hit.letter.id, *q.span, case["gold"])))
        words.append(len(hit.letter.text[q.span[0]:q.span[1]].split()))
    return round(float(np.mean(right)), 3), float(statistics.median(words)) if words else 0.0


def cross_validated_quotes(data, drop: int | None = None, split=fold) -> tuple[float, float]:
    """answer@1 and median words over the parts of `split` (FOLDS folds by default), each part chosen
    with weights fit on the others; with split=`source`, only the English set, chosen by weights fit on the
    rest (the 50 and the Dutch set)."""
    right, words = 0.0, []
    parts = ["en"] if split is source else sorted({split(d[0]) for d in data})
    data_tested = [d for d in data if split(d[0]) in parts]
    for part in parts:
        test = [d for d in data if split(d[0]) == part]
        weights = fit_sentences([d for d in data if split(d[0]) != part], drop)
        score, median = quote_figures(test, weights)
        right += score * len(test)
        words.append(median)
    return round(right / len(data_tested), 3), float(np.median(words))


def quotes_by_language(data, weights) -> dict:
    return {lang: quote_figures([d for d in data if hints.language(d[0]["question"]) == lang], weights)
            for lang in ("nl", "en")}


def abstain_data(index, items, weights):
    rows, labels, kinds = [], [], []
    for case in items:
        q = quote.choose_quote(index, case["question"], case["hits"], weights)
        if q is None:
            continue
        rows.append(abstain.evidence(index, case["question"], case["hits"], q))
        labels.append(float(case["kind"] == "dev"))
        kinds.append((case["kind"], case["held_out"], fold(case), source(case), case["id"]))
    return np.array(rows), np.array(labels), kinds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path, default=None)
    ap.add_argument("--transfer", type=Path, action="append", default=[],
                    help="another index (e.g. /work/idx/scale-large): the figures there with the weights of --index")
    ap.add_argument("--cache", type=Path, required=True, help="scratch folder for question vectors and hits")
    ap.add_argument("--dev", type=Path, action="append")
    ap.add_argument("--unanswerable", type=Path, action="append")
    ap.add_argument("--fit", action="store_true", help="fit the weights and print them")
    ap.add_argument("--misses", action="store_true", help="list every wrong quote and every wrong decision")
    ap.add_argument("--max-words", type=int, default=quote.MAX_BLOCK_WORDS, help="measure quotes of at most this many words")
    args = ap.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    MAX_WORDS[0] = args.max_words
    index, every = open_cases(args.index or Path(default_index_dir()), args)
    transfer = [open_cases(path, args) for path in args.transfer]
    weights, w_abs, above = report(index, every, args.fit, transfer[:1])
    for path, (other, other_cases) in zip(args.transfer, transfer):
        print(f"on {path} with these weights:")
        measure(other, other_cases, weights, w_abs, above, "  ")
        if args.misses:
            list_misses(other, other_cases, weights, w_abs, above)
    if args.misses:
        list_misses(index, every, weights, w_abs, above)
    return 0


def open_cases(path: Path, args):
    loaded = load_index(path, deep_check=False)
    index = Searcher(loaded, CachedEmbedder(loaded.manifest["model"], args.cache / "query_vectors.pkl"))
    return index, cases(index, args.dev or DEV, args.unanswerable or UNANSWERABLE, args.cache)


def measure(index, every, weights, w_abs, above, indent="") -> None:
    """The figures of given weights on all cases of an index (no fitting)."""
    dev = sentence_data(index, [c for c in every if c["kind"] == "dev"])
    print(f"{indent}quote answer@1, words: all {quote_figures(dev, weights)} by language {quotes_by_language(dev, weights)}")
    x, _, kinds = abstain_data(index, every, weights)
    print(f"{indent}abstained on: {abstain_shares(x @ w_abs < above, np.array([k[0] for k in kinds]))}")


def report(index, every, fit: bool, transfer=()):
    """Print the figures and ablations and return the weights to use: with `fit`, fit on all questions
    (the module's weights are fit so); else the modules' weights. Every held-out figure is of a model fit
    without the questions it is measured on (the third held out by id, the folds, the English set; with
    `transfer`, [(index, cases)], the folds' models also on that index)."""
    dev = sentence_data(index, [c for c in every if c["kind"] == "dev"])
    fit_part, held = [d for d in dev if not d[0]["held_out"]], [d for d in dev if d[0]["held_out"]]
    weights = fit_sentences(dev) if fit else quote.SENTENCE_WEIGHTS
    if fit:
        print("SENTENCE_WEIGHTS =", np.round(weights, 2).tolist())
    part_weights = fit_sentences(fit_part)
    print(f"quote choice, answer@1 ignoring abstention and median words quoted ({len(fit_part)} fit / {len(held)} held-out):")
    print(f"  fit on the fit part: fit {quote_figures(fit_part, part_weights)}  held-out {quote_figures(held, part_weights)}")
    print(f"  all {len(dev)} with the weights in use (in-sample when fit on all): {quote_figures(dev, weights)} "
          f"by language {quotes_by_language(dev, weights)}")
    first = np.zeros_like(weights)
    first[[0, quote.SENTENCE_FEATURES.index("dense"), quote.SENTENCE_FEATURES.index("rank")]] = -100.0, 1.0, 100.0
    print(f"  first version (best dense sentence of the best hit), all: {quote_figures(dev, first, 0)}")
    print(f"  best case (some candidate sentence of the top {quote.QUOTE_FROM} hits overlaps a gold quote): "
          f"{np.mean([labels.any() for _, _, labels in dev]):.3f}")
    print(f"  one sentence (the best by the model), fit {quote_figures(fit_part, part_weights, 0)} "
          f"held-out {quote_figures(held, part_weights, 0)}")
    print(f"  the English set (eval/dev_en.jsonl) chosen by weights fit on the 50 and the Dutch set: "
          f"{cross_validated_quotes(dev, split=source)}")
    print(f"  {FOLDS}-fold cross-validation over all {len(dev)}: all signals {cross_validated_quotes(dev)}")
    for n, feature in enumerate(quote.SENTENCE_FEATURES[1:], start=1):
        print(f"    without {feature:22s} {cross_validated_quotes(dev, n)}")
    x, y, kinds = abstain_data(index, every, weights)
    held_mask = np.array([k[1] for k in kinds])
    kind = np.array([k[0] for k in kinds])
    w_abs, above = abstain.ABSTAIN_WEIGHTS, abstain.ANSWER_ABOVE
    if fit:
        w_abs = fit_abstention(x, y)
        above = threshold_for(x @ w_abs, y)
        print("ABSTAIN_WEIGHTS =", np.round(w_abs, 3).tolist(), " ANSWER_ABOVE =", round(above, 3))
    w_part = fit_abstention(x[~held_mask], y[~held_mask])
    part_abstained = x @ w_part < threshold_for(x[~held_mask] @ w_part, y[~held_mask])
    print("abstained on (dev = wrongly, on answerable questions):")
    print(f"  fit on the fit part: fit {abstain_shares(part_abstained[~held_mask], kind[~held_mask])}  "
          f"held-out {abstain_shares(part_abstained[held_mask], kind[held_mask])}")
    print(f"  all with the weights in use (in-sample when fit on all): {abstain_shares(x @ w_abs < above, kind)}")
    print(f"  the English sets (eval/*_en.jsonl) decided by a model fit on the rest: "
          f"{cross_validated_abstention(x, y, kinds, by_source=True)}")
    print(f"  {FOLDS}-fold cross-validation: all signals {cross_validated_abstention(x, y, kinds)}")
    for language in ("nl", "en"):
        print(f"    {language} questions only  {cross_validated_abstention(x, y, kinds, language=language)}")
    for n, feature in enumerate(abstain.ABSTAIN_FEATURES[1:], start=1):
        print(f"    without {feature:18s} {cross_validated_abstention(x, y, kinds, n)}")
    other = None
    for other_index, other_cases in transfer:
        other_x, _, other_kinds = abstain_data(other_index, other_cases, weights)
        other = aligned(x, kinds, other_x, other_kinds)
    held_out_table(x, y, kinds, other)
    return weights, w_abs, above


def list_misses(index, every, weights, w_abs, above) -> None:
    """Every dev question whose quote is wrong (chosen block, then the gold quote) and every wrong decision."""
    print(f"misses on {index.path}:")
    for case, found, _ in sentence_data(index, [c for c in every if c["kind"] == "dev"]):
        q = quote.best_block(found, case["hits"], weights, MAX_WORDS[0])
        hits = case["hits"]
        if q is not None and quote_matches(hits[q.rank].letter.id, *q.span, case["gold"]):
            continue
        chosen = " ".join(hits[q.rank].letter.text[q.span[0]:q.span[1]].split())[:160] if q else "(nothing)"
        gold = case["gold"][0]
        wanted = index.letters[gold.doc_id].text[gold.start:gold.end] if gold.start is not None else gold.doc_id
        print(f"  QUOTE {case['id']}: {case['question']}\n    chose hit {q.rank + 1 if q else '-'}: {chosen}\n"
              f"    gold {gold.doc_id}: {' '.join(wanted.split())[:160]}")
    for case in every:
        q = quote.choose_quote(index, case["question"], case["hits"], weights)
        if q is None:
            continue
        decision = abstain.decide(abstain.evidence(index, case["question"], case["hits"], q), w_abs, above)
        if decision.answerable != (case["kind"] == "dev"):
            verb = "abstained on" if case["kind"] == "dev" else "answered"
            print(f"  DECISION {verb} {case['kind']} {case['id']} ({decision.score:+.2f}): {case['question']} | {decision.reason}")


if __name__ == "__main__":
    raise SystemExit(main())
