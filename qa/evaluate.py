"""`kamerqa eval`: how well do retrievers find the gold quotes of a question set?

The path: read the questions and locate each gold quote in its letter's raw text (`qa.questions`, `qa.gold`)
-> retrieve once per question per retriever -> mark the passages that answer -> metrics with ranx (runs and qrels as plain dicts) -> table, JSON, report (`qa.eval_report`).

A passage answers when it comes from a gold letter and its raw span overlaps the located quote
by at least `min_overlap` (default half) of the shorter of the two spans; a letter-level answer
(BEIR/TREC qrels, no quote) is answered by any passage of the letter. Each gold answer counts
once: the relevant "documents" for ranx are the answers, so Recall@k is the share of answers
found and nDCG's ideal ranking has every answer on top.
"""
from __future__ import annotations

import statistics
import time
import warnings
from dataclasses import dataclass
from typing import Callable

from corpus.models import Hit, Letter, Passage
from qa.answer_eval import score_answers
from qa.gold import QUOTE_THRESHOLD, GoldSpan, resolve_gold
from qa.questions import Problem, Question, QuestionSet

SearchFn = Callable[[str, int], list[Hit]]

CUTOFFS = (1, 3, 5, 10)
PLOT_DEPTH = 20  # retrieval depth at least this, so Hit@k can be drawn for k = 1..20
MIN_OVERLAP = 0.5
SIGNIFICANCE_METRICS = ("hit@5", "mrr@10", "ndcg@10")
ANSWER_DEPTH = 10  # hits an answer is composed from, as `kamerqa ask` and the app do
ANSWER_METRICS = ("answer@1", "quoted_words_p50", "abstained_wrongly", "abstained_left_out", "abstained_unanswerable")


@dataclass(frozen=True)
class Evaluation:
    results: dict  # retriever -> metrics, the shape `--json` writes
    runs: dict  # retriever -> question id -> hits, as retrieved
    questions: tuple[Question, ...]  # the questions that were scored
    gold: dict  # question id -> tuple of GoldSpan
    problems: tuple[Problem, ...]


# --- matching and scoring ----------------------------------------------------------------------

def passage_answers(passage: Passage, span: GoldSpan, min_overlap: float = MIN_OVERLAP) -> bool:
    """Does this passage answer the gold span? Same letter, and enough raw-text overlap."""
    if passage.letter_id != span.doc_id:
        return False
    if span.start is None:
        return True
    overlap = min(passage.end, span.end) - max(passage.start, span.start)
    shorter = min(passage.end - passage.start, span.end - span.start)
    return overlap > 0 and overlap >= min_overlap * shorter


def answer_ids(hits: list[Hit], spans: tuple[GoldSpan, ...], min_overlap: float = MIN_OVERLAP) -> list[str]:
    """One ranx doc id per hit, in rank order: `answer-<i>` for the first hit answering answer i,
    the passage id (made unique) otherwise."""
    ids, found = [], set()
    for rank, hit in enumerate(hits):
        matched = [i for i, s in enumerate(spans) if i not in found and passage_answers(hit.passage, s, min_overlap)]
        if matched:
            found.add(matched[0])
            ids.append(f"answer-{matched[0]}")
        else:
            ids.append(f"{hit.passage.id}~{rank}")
    return ids


def letter_ids(hits: list[Hit]) -> list[str]:
    """One ranx doc id per hit: the letter id for the first passage of each letter."""
    ids, seen = [], set()
    for rank, hit in enumerate(hits):
        letter_id = hit.passage.letter_id
        ids.append(letter_id if letter_id not in seen else f"{hit.passage.id}~{rank}")
        seen.add(letter_id)
    return ids


def _as_run(ranked: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """Ranked doc ids -> a ranx run whose scores keep that order."""
    return {qid: {doc: float(len(docs) - i) for i, doc in enumerate(docs)} for qid, docs in ranked.items() if docs}


def _first_rank(ids: list[str], relevant: set[str]) -> int | None:
    return next((i + 1 for i, doc in enumerate(ids) if doc in relevant), None)


def _ranx_scores(qrels: dict, run: dict, metrics: dict[str, str], qids: list[str]) -> dict[str, dict[str, float]]:
    """Per-question scores from ranx, keyed by our metric names (`metrics`: ours -> ranx's)."""
    from ranx import Qrels, Run, evaluate

    if not run:  # nothing retrieved for any question
        return {name: dict.fromkeys(qids, 0.0) for name in metrics}
    ranx_run = Run(run)
    with warnings.catch_warnings():  # numba's type-safety chatter inside ranx
        warnings.simplefilter("ignore")
        evaluate(Qrels(qrels), ranx_run, list(metrics.values()), make_comparable=True)
    return {name: {q: float(ranx_run.scores[m].get(q, 0.0)) for q in qids} for name, m in metrics.items()}


def score_run(questions: tuple[Question, ...], gold: dict, run: dict[str, list[Hit]], *,
              k: int = 10, min_overlap: float = MIN_OVERLAP) -> dict:
    """Metrics for one retriever's hits: the `--json` entry of that retriever."""
    qids = [q.id for q in questions]
    answers = {q: answer_ids(run[q], gold[q], min_overlap) for q in qids}
    letters = {q: letter_ids(run[q]) for q in qids}
    qrels = {q: {f"answer-{i}": 1 for i in range(len(gold[q]))} for q in qids}
    letter_qrels = {q: {s.doc_id: 1 for s in gold[q]} for q in qids}
    names = {f"hit@{c}": f"hit_rate@{c}" for c in CUTOFFS}
    names |= {"mrr@10": "mrr@10", "ndcg@10": "ndcg@10"}
    names |= {f"recall@{c}": f"recall@{c}" for c in sorted({5, 10, k})}
    per_metric = _ranx_scores(qrels, _as_run(answers), names, qids)
    per_metric |= _ranx_scores(letter_qrels, _as_run(letters), {f"letter_hit@{c}": f"hit_rate@{c}" for c in CUTOFFS}, qids)
    per_question = []
    for q in questions:
        row = {"id": q.id, "lang": q.lang, "type": q.type,
               "rank": _first_rank(answers[q.id], set(qrels[q.id])),
               "letter_rank": _first_rank(letters[q.id], set(letter_qrels[q.id]))}
        row |= {name: values[q.id] for name, values in per_metric.items()}
        per_question.append(row)
    result = _means(per_question, list(per_metric))
    result["per_question"] = per_question
    result["by_lang"] = _breakdown(per_question, "lang", list(per_metric))
    result["by_type"] = _breakdown(per_question, "type", list(per_metric))
    ranks = [row["rank"] for row in per_question]
    result["hit_curve"] = [sum(r is not None and r <= c for r in ranks) / max(len(ranks), 1) for c in range(1, PLOT_DEPTH + 1)]
    result["ranx_run"] = _as_run(answers)  # removed before writing JSON; kept for significance tests
    result["ranx_qrels"] = qrels
    return result


def _means(rows: list[dict], metrics: list[str]) -> dict:
    n = len(rows)
    return {m: (sum(row[m] for row in rows) / n if n else 0.0) for m in metrics} | {"n": n}


def _breakdown(rows: list[dict], key: str, metrics: list[str]) -> dict:
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row[key] or "(none)", []).append(row)
    return {value: _means(group, metrics) for value, group in sorted(groups.items())}


def compare_retrievers(results: dict, metrics: tuple[str, ...] = SIGNIFICANCE_METRICS) -> dict:
    """Paired Fisher randomisation test (ranx `compare`) of every retriever against the first.

    Returns {retriever: {metric: p_value}} for all but the first retriever.
    """
    from ranx import Qrels, Run, compare

    names = list(results)
    if len(names) < 2 or not results[names[0]]["n"]:
        return {}
    ranx_metrics = [m.replace("hit@", "hit_rate@") for m in metrics]
    runs = [Run(results[n]["ranx_run"] or {"-": {"-": 1.0}}, name=n) for n in names]
    with warnings.catch_warnings():  # numba's type-safety chatter inside ranx
        warnings.simplefilter("ignore")
        report = compare(Qrels(results[names[0]]["ranx_qrels"]), runs, ranx_metrics, stat_test="fisher",
                         random_seed=42, make_comparable=True).to_dict()
    return {n: {m: float(report[names[0]]["comparisons"][n][rm]) for m, rm in zip(metrics, ranx_metrics)}
            for n in names[1:]}


def evaluate(question_set: QuestionSet, letters: dict[str, Letter], search_fns: dict[str, SearchFn], *,
             k: int = 10, threshold: float = QUOTE_THRESHOLD, min_overlap: float = MIN_OVERLAP) -> Evaluation:
    """Evaluate each retriever in `search_fns` (name -> search_fn(question, k)) on the question set.

    Retrieval runs once per question per retriever, `max(20, k)` deep.
    """
    gold, located_problems = resolve_gold(question_set.questions, letters, threshold)
    questions = tuple(q for q in question_set.questions if q.id in gold)
    depth = max(PLOT_DEPTH, k)
    search_problems: list[Problem] = []
    runs, seconds = {}, {}
    for name, fn in search_fns.items():
        runs[name], seconds[name] = {}, []
        for q in questions:
            started = time.perf_counter()
            runs[name][q.id] = _retrieve(fn, q, depth, name, search_problems)
            seconds[name].append(time.perf_counter() - started)
    results = {name: score_run(questions, gold, run, k=k, min_overlap=min_overlap) for name, run in runs.items()}
    for name, times in seconds.items():  # the first question of a run also pays for warming up
        results[name]["ms_p50"] = round(1000 * statistics.median(times), 1) if times else 0.0
    baseline = next(iter(results), None)
    for name, p_values in compare_retrievers(results).items():
        results[name]["significance"] = {"test": "paired Fisher randomisation (ranx)", "against": baseline, "p": p_values}
    problems = tuple(question_set.problems) + tuple(located_problems) + tuple(search_problems)
    for result in results.values():
        del result["ranx_run"], result["ranx_qrels"]
        result["problems"] = [str(p) for p in problems]
    return Evaluation(results, runs, questions, gold, problems)


def _retrieve(search_fn: SearchFn, question: Question, depth: int, name: str, problems: list[Problem]) -> list[Hit]:
    """The hits for one question; a question the retriever refuses (ValueError) is a problem and a miss."""
    try:
        return list(search_fn(question.question, depth))[:depth]
    except ValueError as error:
        problems.append(Problem(question.source, question.line, f"question {question.id}: {name} refused it ({error}); scored as a miss"))
        return []


def add_answer_metrics(evaluation: Evaluation, search_fns: dict[str, SearchFn], compose, unanswerable: list[str]) -> None:
    """Add the answer metrics (`qa.answer_eval`) to each retriever's results and per-question rows."""
    for name, result in evaluation.results.items():
        scored = score_answers(evaluation.questions, evaluation.gold, evaluation.runs[name], compose,
                               search_fns[name], unanswerable, k=ANSWER_DEPTH)
        rows = scored.pop("answer_rows")
        for row in result["per_question"]:
            row |= rows.get(row["id"], {})
        result |= scored


def metric_names(k: int = 10) -> list[str]:
    """The averaged metrics each retriever gets, as named in the JSON and by --fail-under."""
    return ([f"hit@{c}" for c in CUTOFFS] + ["mrr@10", "ndcg@10"] + [f"recall@{c}" for c in sorted({5, 10, k})]
            + [f"letter_hit@{c}" for c in CUTOFFS] + list(ANSWER_METRICS))


def parse_fail_under(specs: list[str], k: int = 10) -> dict[str, float]:
    """["hit@5=0.85", ...] -> {"hit@5": 0.85}; a malformed spec or unknown metric raises ValueError."""
    floors = {}
    for spec in specs or []:
        metric, _, value = (part.strip() for part in spec.partition("="))
        if metric not in metric_names(k):
            raise ValueError(f"--fail-under {spec!r}: unknown metric {metric!r}; choose from {', '.join(metric_names(k))}")
        try:
            floors[metric] = float(value)
        except ValueError:
            raise ValueError(f"--fail-under {spec!r}: expected METRIC=VALUE, e.g. hit@5=0.85") from None
    return floors


def check_fail_under(results: dict, floors: dict[str, float]) -> list[str]:
    """One message per retriever and metric below its floor."""
    failures = []
    for name, result in results.items():
        for metric, floor in floors.items():
            if metric in result and result[metric] < floor:
                failures.append(f"{name}: {metric} = {result[metric]:.3f} is below {floor}")
    return failures
