"""Can a reader be trained here? Fine-tune multilingual-e5-small on question -> answering sentence pairs this
machine has, and measure what its score adds to the quote choice of `qa.quote` (issue 10).

    PYTHONPATH=. python eval/reader_trial.py --cache /tmp/kq-answers --scratch /tmp/kq-reader \
        [--reader bi|cross] [--with-dev]

The pairs: the Kamervragen of the large corpus (`eval/kamervragen.py`: a question, the sentences of its
answer, and as negatives the sentences of the other answers of the same set: same subject, not this
answer). `--reader bi` fine-tunes the bi-encoder (mean pooling, in-batch and hard negatives; its cosine is
the score), `--reader cross` a cross-encoder (a new head on the same model; its logit is the score).
With `--with-dev` the reader also learns from the dev questions (gold sentence against the candidates the
current sentence model scores highest), out of fold: each fold's candidates are scored by a reader trained
without that fold, so the 5-fold figures stay held-out (stacking).

Prints, for the untrained model (the control) and the trained reader: the AUC of the score over the 245
dev questions' candidate sentences (label: overlaps a gold quote), how often the reader's own best
sentence is a gold one, and 5-fold cross-validated answer@1 (and the English set fit on the rest) of the
sentence model with the score as a thirteenth feature, against the twelve features alone; last, the wall
seconds the row took (training, scoring and cross-validation).
"""
from __future__ import annotations

import argparse
import random
import re
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from answer_fit import FOLDS, fold, source
from answers import DEV, UNANSWERABLE, cross_validated_quotes, open_cases, sentence_data
from index.embed import model_info
from index.store import default_index_dir
from kamervragen import groups
from qa import quote

EVAL = Path(__file__).parent
DEV_SETS = DEV + [EVAL / "dev_nl.jsonl", EVAL / "dev_en.jsonl"]
KAMERVRAGEN = EVAL.parents[1] / "shared/corpus/sgd/kamerstukken.jsonl"
QUESTION_WORD = re.compile(r"^(Wat|Welke?|Waarom|Hoe\w*|Wanneer|Wie|Waar\w*|Op welke|In hoeverre|Om welke)\b")
BATCH, LEARNING_RATE, SCALE = 16, 2e-5, 50.0  # set by hand; SCALE: 1 / temperature of the in-batch softmax


def sentence_text(case, sentence) -> str:
    return " ".join(case["hits"][sentence.rank].letter.text[slice(*sentence.span)].split())


def kamervragen_triples(found: list[dict], rng: random.Random) -> list[tuple[str, str, str]]:
    """(question, a sentence of its answer, a sentence of another answer of its set); three per question."""
    return [(g["question"], s, rng.choice(g["others"])) for g in found for s in g["answers"][:3]]


def dev_triples(data, rng: random.Random) -> list[tuple[str, str, str]]:
    """(question, a gold sentence, one of the two non-gold candidates the sentence model scores highest).
    The sentence model is the one in use (fit on all 245), which only chooses these training negatives."""
    out = []
    for case, found, labels in data:
        scores = np.array([quote.sentence_score(s) for s in found])
        confusers = [i for i in np.argsort(-scores) if labels[i] == 0][:2]
        out += [(case["question"], sentence_text(case, found[i]), sentence_text(case, found[rng.choice(confusers)]))
                for i in np.flatnonzero(labels)[:3] if confusers]
    return out


def train_bi(model_path: str, triples, seed: int = 0):
    """The bi-encoder fine-tuned one epoch: a question against its sentence, the batch's other sentences
    and the hard negatives (a question's own other sentences in the batch are not counted as negatives)."""
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(seed)
    model = SentenceTransformer(model_path, device="cpu")
    model[0].auto_model.embeddings.word_embeddings.weight.requires_grad = False  # 96M of the 118M weights
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LEARNING_RATE)
    model.train()
    triples = list(triples)
    random.Random(seed).shuffle(triples)
    for i in range(0, len(triples) - BATCH + 1, BATCH):
        batch = triples[i:i + BATCH]
        q = model(model.tokenize([f"query: {t[0]}" for t in batch]))["sentence_embedding"]
        d = model(model.tokenize([f"passage: {t[1]}" for t in batch] + [f"passage: {t[2]}" for t in batch]))
        same = torch.tensor([[batch[r][0] == batch[c % BATCH][0] and c != r for c in range(2 * BATCH)]
                             for r in range(BATCH)])
        logits = (q @ d["sentence_embedding"].T * SCALE).masked_fill(same, -1e4)
        torch.nn.functional.cross_entropy(logits, torch.arange(len(batch))).backward()
        optimiser.step()
        optimiser.zero_grad()
    model.eval()
    return lambda pairs: _bi_scores(model, pairs)


def _bi_scores(model, pairs) -> list[float]:
    questions = model.encode([f"query: {q}" for q, _ in pairs], normalize_embeddings=True, batch_size=32)
    texts = model.encode([f"passage: {s}" for _, s in pairs], normalize_embeddings=True, batch_size=32)
    return np.sum(questions * texts, axis=1).tolist()


def train_cross(model_path: str, triples, seed: int = 0):
    """A cross-encoder (the model with a new one-logit head), two epochs of binary cross-entropy on
    (question, answer sentence) = 1 and (question, other sentence) = 0."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=1)
    model.base_model.embeddings.word_embeddings.weight.requires_grad = False
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LEARNING_RATE)
    labelled = [(q, s, 1.0) for q, s, _ in triples] + [(q, s, 0.0) for q, _, s in triples]

    def logits(batch):
        return model(**tokenizer([f"query: {b[0]}" for b in batch], [f"passage: {b[1]}" for b in batch],
                                 truncation=True, max_length=160, padding=True, return_tensors="pt")).logits[:, 0]

    model.train()
    for epoch in range(2):
        random.Random(seed + epoch).shuffle(labelled)
        for i in range(0, len(labelled), BATCH):
            batch = labelled[i:i + BATCH]
            target = torch.tensor([b[2] for b in batch])
            torch.nn.functional.binary_cross_entropy_with_logits(logits(batch), target).backward()
            optimiser.step()
            optimiser.zero_grad()
    model.eval()

    def score(pairs):
        with torch.inference_mode():
            return [x for i in range(0, len(pairs), 64) for x in logits(pairs[i:i + 64]).tolist()]
    return score


def untrained(model_path: str):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_path, device="cpu")
    return lambda pairs: _bi_scores(model, pairs)


TRAIN = {"bi": train_bi, "cross": train_cross}  # the untrained model is every run's control


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """The chance a gold sentence scores above a non-gold one (Mann-Whitney; ties count half)."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    return float(((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg)))


def with_score(data, scores: list[float]):
    """The cases with the reader's score appended to every candidate's features (in `data`'s order)."""
    it = iter(scores)
    return [(case, [replace(s, features=np.append(s.features, next(it))) for s in found], labels)
            for case, found, labels in data]


def report(name: str, data, scores: list[float], started: float) -> None:
    scored = with_score(data, scores)
    labels = np.concatenate([labels for _, found, labels in data if found])
    own_best = [labels[int(np.argmax([s.features[-1] for s in found]))] for _, found, labels in scored if found]
    print(f"{name}: AUC over candidates {auc(np.array(scores), labels):.3f}; its best sentence gold "
          f"{np.mean(own_best):.3f}; 5-fold answer@1, words {cross_validated_quotes(scored)}; "
          f"the English set fit on the rest {cross_validated_quotes(scored, split=source)}; "
          f"{time.perf_counter() - started:.0f} s", flush=True)


def reader_scores(train, model_path: str, data, pairs, triples, with_dev: bool) -> list[float]:
    """Each candidate's score by a reader trained on `triples` (+ with `with_dev`, the other folds' dev
    questions: every fold scored by its own reader)."""
    if not with_dev:
        return train(model_path, triples)(pairs)
    scores, start = [0.0] * len(pairs), np.cumsum([0] + [len(found) for _, found, _ in data])
    for part in range(FOLDS):
        rest = [d for d in data if fold(d[0]) != part]
        score = train(model_path, triples + dev_triples(rest, random.Random(part)), seed=part)
        for n, (case, found, _) in enumerate(data):
            if fold(case) == part and found:
                scores[start[n]:start[n + 1]] = score(pairs[start[n]:start[n + 1]])
    return scores


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path, default=None)
    ap.add_argument("--cache", type=Path, required=True, help="scratch folder of eval/answers.py (vectors, hits)")
    ap.add_argument("--reader", choices=sorted(TRAIN), default="bi")
    ap.add_argument("--with-dev", action="store_true", help="also train on the other folds' dev questions")
    ap.add_argument("--kamervragen", type=Path, default=KAMERVRAGEN)
    args = ap.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    index, every = open_cases(args.index or Path(default_index_dir()),
                              argparse.Namespace(dev=DEV_SETS, unanswerable=UNANSWERABLE, cache=args.cache))
    data = sentence_data(index, [c for c in every if c["kind"] == "dev"])
    pairs = [(case["question"], sentence_text(case, s)) for case, found, _ in data for s in found]
    found = groups(args.kamervragen)
    triples = kamervragen_triples(found, random.Random(0))
    asking = sum(bool(QUESTION_WORD.match(g["question"])) for g in found)
    print(f"{len(found)} Kamervragen with their answers ({len({g['doc'] for g in found})} documents; {asking} "
          f"begin with a question word: wat, waarom, hoeveel ...), {len(triples)} training triples; "
          f"{len(data)} dev questions, {len(pairs)} candidate sentences")
    print(f"twelve features alone: 5-fold {cross_validated_quotes(data)}; the English set fit on the rest "
          f"{cross_validated_quotes(data, split=source)}")
    model_path = model_info(index.manifest["model"]).path or index.manifest["model"]  # a folder, else a hub name
    started = time.perf_counter()
    report("untrained model (control)", data, untrained(model_path)(pairs), started)
    name = f"{args.reader} reader, Kamervragen" + (" + the other folds' dev questions" if args.with_dev else "")
    started = time.perf_counter()
    report(name, data, reader_scores(TRAIN[args.reader], model_path, data, pairs, triples, args.with_dev), started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
