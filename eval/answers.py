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
import hashlib
import pickle
import statistics
from pathlib import Path

import numpy as np

from corpus.models import Hit
from index.store import default_index_dir, load_index
from qa import abstain, quote
from qa.answer_eval import quote_matches, read_unanswerable
from qa.gold import resolve_gold
from qa.questions import load_questions
from qa.search import Filters, search
from qa.searcher import Searcher

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEV = [SHARED / "eval/dev_questions.jsonl"]
UNANSWERABLE = [Path(__file__).parent / "unanswerable.jsonl"]
MAX_WORDS = [quote.MAX_BLOCK_WORDS]  # --max-words: the block size the quote figures are measured at
FOLDS = 5  # cross-validation folds for the ablations (by a hash of the question id)
ENGLISH = abstain.ABSTAIN_FEATURES.index("english")
ALLOWED_WRONG = 0.03  # the abstention threshold lets this share of the fit part's answerable questions go
L2_SENTENCE, L2_ABSTAIN = 1.0, 0.01  # ridge penalties of the two logistic fits (held-out answer@1 / abstention)


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


def held_out(qid: str) -> bool:
    return int(hashlib.sha1(qid.encode()).hexdigest(), 16) % 3 == 0


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


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2_SENTENCE, steps: int = 50) -> np.ndarray:
    """Logistic regression by Newton's method, L2 on all weights but the first (the bias)."""
    w = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2)
    penalty[0] = 1e-6
    for _ in range(steps):
        p = 1 / (1 + np.exp(-np.clip(x @ w, -30, 30)))
        grad = x.T @ (p - y) + penalty * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty)
        w -= np.linalg.solve(hess, grad)
    return w


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


def fold(case) -> int:
    return int(hashlib.md5(case["id"].encode()).hexdigest(), 16) % FOLDS


def cross_validated_quotes(data, drop: int | None = None) -> tuple[float, float]:
    """answer@1 and median words over FOLDS folds, each fold chosen with weights fit on the others."""
    right, words = 0.0, []
    for f in range(FOLDS):
        test = [d for d in data if fold(d[0]) == f]
        weights = fit_sentences([d for d in data if fold(d[0]) != f], drop)
        score, median = quote_figures(test, weights)
        right += score * len(test)
        words.append(median)
    return round(right / len(data), 3), float(np.median(words))


def abstain_data(index, items, weights):
    rows, labels, kinds = [], [], []
    for case in items:
        q = quote.choose_quote(index, case["question"], case["hits"], weights)
        if q is None:
            continue
        rows.append(abstain.evidence(index, case["question"], case["hits"], q))
        labels.append(float(case["kind"] == "dev"))
        kinds.append((case["kind"], case["held_out"], fold(case)))
    return np.array(rows), np.array(labels), kinds


def threshold_for(scores: np.ndarray, labels: np.ndarray) -> float:
    """The highest logit threshold that abstains on at most ALLOWED_WRONG of the answerable questions."""
    positives = np.sort(scores[labels == 1])
    return float(positives[int(np.floor(ALLOWED_WRONG * len(positives)))]) if positives.size else 0.0


def abstain_shares(abstained: np.ndarray, kinds: np.ndarray) -> dict:
    return {kind: round(float(np.mean(abstained[kinds == kind])), 3) for kind in ("dev", "left_out", "unanswerable")
            if (kinds == kind).any()}


def cross_validated_abstention(x, y, kinds, drop: int | None = None, language: str = "") -> dict:
    x = x.copy()
    if drop is not None:
        x[:, drop] = 0.0
    folds = np.array([f for _, _, f in kinds])
    abstained = np.zeros(len(y), dtype=bool)
    for f in range(FOLDS):
        train = folds != f
        w = fit_logistic(x[train], y[train], L2_ABSTAIN)
        abstained[~train] = x[~train] @ w < threshold_for(x[train] @ w, y[train])
    kind = np.array([k for k, _, _ in kinds])
    if language:  # the shares among the questions of one language
        keep = (x[:, ENGLISH] == 1) == (language == "en")
        return abstain_shares(abstained[keep], kind[keep])
    return abstain_shares(abstained, kind)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path, default=None)
    ap.add_argument("--cache", type=Path, required=True, help="scratch folder for question vectors and hits")
    ap.add_argument("--dev", type=Path, action="append")
    ap.add_argument("--unanswerable", type=Path, action="append")
    ap.add_argument("--fit", action="store_true", help="fit the weights and print them")
    ap.add_argument("--max-words", type=int, default=quote.MAX_BLOCK_WORDS, help="measure quotes of at most this many words")
    args = ap.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    MAX_WORDS[0] = args.max_words
    loaded = load_index(args.index or Path(default_index_dir()), deep_check=False)
    index = Searcher(loaded, CachedEmbedder(loaded.manifest["model"], args.cache / "query_vectors.pkl"))
    every = cases(index, args.dev or DEV, args.unanswerable or UNANSWERABLE, args.cache)
    report(index, every, args.fit)
    return 0


def report(index, every, fit: bool) -> None:
    dev = sentence_data(index, [c for c in every if c["kind"] == "dev"])
    fit_part, held = [d for d in dev if not d[0]["held_out"]], [d for d in dev if d[0]["held_out"]]
    weights = fit_sentences(fit_part) if fit else quote.SENTENCE_WEIGHTS
    if fit:
        print("SENTENCE_WEIGHTS =", np.round(weights, 2).tolist())
    print(f"quote choice, answer@1 ignoring abstention and median words quoted ({len(fit_part)} fit / {len(held)} held-out):")
    print(f"  fit {quote_figures(fit_part, weights)}  held-out {quote_figures(held, weights)}")
    first = np.zeros_like(weights)
    first[[0, quote.SENTENCE_FEATURES.index("dense"), quote.SENTENCE_FEATURES.index("rank")]] = -100.0, 1.0, 100.0
    print(f"  first version (best dense sentence of the best hit), all: {quote_figures(dev, first, 0)}")
    print(f"  one sentence (the best by the model), fit {quote_figures(fit_part, weights, 0)} held-out {quote_figures(held, weights, 0)}")
    print(f"  {FOLDS}-fold cross-validation over all {len(dev)}: all signals {cross_validated_quotes(dev)}")
    for n, feature in enumerate(quote.SENTENCE_FEATURES[1:], start=1):
        print(f"    without {feature:22s} {cross_validated_quotes(dev, n)}")
    x, y, kinds = abstain_data(index, every, weights)
    held_mask = np.array([h for _, h, _ in kinds])
    kind = np.array([k for k, _, _ in kinds])
    w_abs, above = abstain.ABSTAIN_WEIGHTS, abstain.ANSWER_ABOVE
    if fit:
        w_abs = fit_logistic(x[~held_mask], y[~held_mask], L2_ABSTAIN)
        above = threshold_for(x[~held_mask] @ w_abs, y[~held_mask])
        print("ABSTAIN_WEIGHTS =", np.round(w_abs, 3).tolist(), " ANSWER_ABOVE =", round(above, 3))
    abstained = x @ w_abs < above
    print("abstained on (dev = wrongly, on answerable questions):")
    print(f"  fit      {abstain_shares(abstained[~held_mask], kind[~held_mask])}")
    print(f"  held-out {abstain_shares(abstained[held_mask], kind[held_mask])}")
    print(f"  {FOLDS}-fold cross-validation: all signals {cross_validated_abstention(x, y, kinds)}")
    for language in ("nl", "en"):
        print(f"    {language} questions only  {cross_validated_abstention(x, y, kinds, language=language)}")
    for n, feature in enumerate(abstain.ABSTAIN_FEATURES[1:], start=1):
        print(f"    without {feature:18s} {cross_validated_abstention(x, y, kinds, n)}")


if __name__ == "__main__":
    raise SystemExit(main())
