"""`kamerqa eval`: options, loading the index, and what is printed (the measuring is `qa.evaluate`)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from qa import conversation_eval, eval_report
from qa.answer import compose_answer
from qa.answer_eval import read_unanswerable
from qa.errors import UserError
from qa.evaluate import add_answer_metrics, check_fail_under, evaluate, parse_fail_under
from qa.questions import load_questions
from qa.search import PLAIN, RETRIEVERS, Filters, open_index, search


def add_arguments(parser) -> None:
    """The options of `kamerqa eval`."""
    parser.add_argument("--questions", help="question set: kamerqa .jsonl, a BEIR folder, or TREC qrels")
    parser.add_argument("--conversations", help="conversations (JSON lines of turns with gold quotes): answer@1 of "
                                                "first turns and follow-ups, e.g. eval/conversations.jsonl")
    parser.add_argument("--standalone", action="store_true",
                        help="with --conversations: ask every turn on its own (the baseline without follow-ups)")
    parser.add_argument("--queries", help="queries file (qid<TAB>text) for TREC qrels")
    parser.add_argument("--split", default="test", help="BEIR qrels split (qrels/<split>.tsv; default test)")
    parser.add_argument("--index", help="index folder (default $KAMERQA_INDEX, else the user data folder)")
    parser.add_argument("--retriever", help="retriever name(s), comma separated (default hybrid)")
    parser.add_argument("-k", type=int, default=10, help="cutoff for recall@k (retrieval is max(20, k) deep)")
    parser.add_argument("--json", metavar="PATH|-", help="write the metrics as JSON ('-' for stdout)")
    parser.add_argument("--report", metavar="DIR", help="write report.md, a Hit@k plot and TREC files here")
    parser.add_argument("--fail-under", action="append", default=[], metavar="METRIC=VALUE",
                        help="exit 1 when a retriever's METRIC is below VALUE (repeatable), e.g. hit@5=0.85")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the question set has problems")
    parser.add_argument("--unanswerable", metavar="FILE",
                        help="JSON lines of questions the letters cannot answer: report the share abstained on")


def run(args) -> int:
    """Evaluate the named retrievers and write what was asked: 0; 1 when --fail-under or --strict fails.
    A user mistake (unknown retriever, bad --fail-under, a missing or unreadable set) is a UserError."""
    try:
        return _run(args)
    except (ValueError, OSError) as error:
        raise UserError(str(error)) from None


def _run(args) -> int:
    names = [n.strip() for n in (args.retriever or "hybrid").split(",") if n.strip()]
    unknown = [n for n in names if n.removesuffix(PLAIN) not in RETRIEVERS]
    if unknown or not names:
        raise ValueError(f"unknown retriever {', '.join(unknown) or '(none)'}; choose from "
                         f"{', '.join(sorted(RETRIEVERS))} (add {PLAIN} for no question hints)")
    parse_fail_under(args.fail_under, args.k)  # fail before the slow part
    if bool(args.questions) == bool(args.conversations):
        raise ValueError("give --questions FILE (retrieval metrics) or --conversations FILE (answer@1 per turn)")
    wanted = args.conversations or args.questions
    if not Path(wanted).exists():
        raise FileNotFoundError(f"{'conversation' if args.conversations else 'question'} set {wanted} does not exist")
    index = open_index(args.index)
    if args.conversations:
        return run_conversations(args, index)
    search_fns = {n: (lambda q, k, exclude=(), n=n: search(index, q, k=k, retriever=n,
                                                            filters=Filters(exclude_letters=exclude)))
                  for n in names}
    return run_evaluation(args, index.letters, search_fns, lambda q, hits: compose_answer(q, hits, index))


def run_evaluation(args, letters: dict, search_fns: dict, compose=None) -> int:
    """The part of `run` after the index is loaded: 0, or 1 on --fail-under / --strict. With `compose`
    (question, hits -> answer) the answers are measured too (`qa.answer_eval`)."""
    floors = parse_fail_under(args.fail_under, args.k)
    question_set = load_questions(args.questions, queries=args.queries, split=args.split)
    unanswerable = read_unanswerable(args.unanswerable) if args.unanswerable else []
    evaluation = evaluate(question_set, letters, search_fns, k=args.k)
    if compose is not None:
        add_answer_metrics(evaluation, search_fns, compose, unanswerable)
    for problem in evaluation.problems:
        print(f"problem: {problem}", file=sys.stderr)
    table = eval_report.format_table(evaluation)
    print(table, file=sys.stderr if args.json == "-" else sys.stdout)
    if args.json:
        eval_report.write_json(evaluation, args.json)
    if args.report:
        path = eval_report.write_report(evaluation, args.report)
        print(f"report written to {path}", file=sys.stderr)
    failures = check_fail_under(evaluation.results, floors)
    for failure in failures:
        print(f"fail-under: {failure}", file=sys.stderr)
    if args.strict and evaluation.problems:
        print(f"strict: the question set has {len(evaluation.problems)} problems", file=sys.stderr)
        return 1
    return 1 if failures else 0


def run_conversations(args, index) -> int:
    """`kamerqa eval --conversations FILE`: answer@1 of first turns and follow-ups (and --json)."""
    conversations = conversation_eval.load_conversations(args.conversations, index.letters)
    retriever = (args.retriever or "hybrid").split(",")[0].strip()
    result = conversation_eval.evaluate_conversations(index, conversations, args.standalone, retriever=retriever)
    print(conversation_eval.format_table(result), file=sys.stderr if args.json == "-" else sys.stdout)
    if args.json:
        text = json.dumps(result, ensure_ascii=False, indent=1)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0
