"""The `kamerqa` command: index, ask, eval, fetch, serve, bench, feedback."""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit code 2."""


def _index_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", type=Path, default=None,
                   help="index folder (default: $KAMERQA_INDEX, else the user data folder)")


def _model_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None,
                   help="sentence-transformers model name or path (default: $KAMERQA_MODEL, else the offline "
                        "multilingual-e5-small; for ask, the index's own model)")


def _filter_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="date_from", default="", help="letters dated on or after (YYYY or YYYY-MM-DD)")
    p.add_argument("--to", dest="date_to", default="", help="letters dated on or before (YYYY or YYYY-MM-DD)")
    p.add_argument("--sender", default="", help="part of the sender, e.g. 'Justitie' or 'Harbers'")
    p.add_argument("--dossier", default="", help="dossier number, e.g. '29 515'")


def cmd_index(args) -> int:
    from corpus.readers import corpus_paths, default_corpus, read_corpus
    from index.build import BuildSettings, build_index
    from index.embed import load_embedder
    from index.store import default_index_dir

    paths = corpus_paths(args.corpus) if args.corpus else default_corpus()
    result = read_corpus(paths)
    for source, reason in result.skipped:
        print(f"skipped {source}: {reason}", file=sys.stderr)
    if not result.letters:
        raise UserError(f"no letters found in {', '.join(map(str, paths))}; give .jsonl files or folders of "
                        f".txt/.md/.html/.pdf/.xml/.json letters with --corpus")
    path = args.index or default_index_dir()
    embedder = load_embedder(args.model)
    report = build_index(result.letters, path, embedder, BuildSettings(), progress=not args.quiet)
    size = sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rate = report.embedded / report.seconds if report.seconds else 0.0
    print(f"indexed {report.letters} letters -> {report.passages} passages, {report.sentences} sentences "
          f"into {path} in {report.seconds:.1f} s ({report.embedded} texts embedded, {rate:.1f}/s; "
          f"{report.letters and len(result.skipped)} skipped); index {size / 2**20:.1f} MB; peak memory {peak:.0f} MB")
    return 0


def _filters(args):
    from qa.search import Filters

    return Filters(args.date_from, args.date_to, args.sender, args.dossier)


def _read_batch(path: str) -> list[tuple[str | None, str]]:
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                obj = json.loads(line)
                items.append((obj.get("id"), str(obj["question"])))
            except (ValueError, KeyError):
                raise UserError(f"{path}:{number}: not a JSON object with a 'question' field") from None
        else:
            items.append((None, line.strip()))
    return items


def cmd_ask(args) -> int:
    from qa.answer import compose_answer
    from qa.search import QuestionError, open_index, search

    if not args.question and not args.batch:
        raise UserError("give a question, or --batch FILE with one question a line")
    index = open_index(args.index, args.model)
    filters = _filters(args)
    items = _read_batch(args.batch) if args.batch else [(None, " ".join(args.question))]
    for qid, question in items:
        started = time.perf_counter()
        try:
            hits = search(index, question, k=args.k, retriever=args.retriever, filters=filters)
            error = None
        except QuestionError as e:
            if not args.batch:
                raise UserError(str(e)) from None
            hits, error = [], str(e)
        answer = compose_answer(question, hits, index)
        ms = (time.perf_counter() - started) * 1000
        if args.json:
            out = {"question": question, "hits": [h.to_json() for h in hits], "answered": answer.answered,
                   "ms": round(ms, 1)}
            if qid is not None:
                out["id"] = qid
            if error:
                out["error"] = error
            print(json.dumps(out, ensure_ascii=False), flush=True)
        else:
            print(answer.as_text())
            print(f"({ms:.0f} ms)\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kamerqa", description="Ask questions of Dutch parliamentary letters.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="read, chunk and embed letters into an index")
    p.add_argument("--corpus", type=Path, action="append",
                   help="a .jsonl file or a folder of letters, or a corpus name: 'default' (../shared/corpus's "
                        "letters) or 'large' (default + sgd/kamerstukken.jsonl) (repeatable; default: default)")
    _index_arg(p)
    _model_arg(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", help="answer a question with cited passages")
    p.add_argument("question", nargs="*")
    p.add_argument("-k", type=int, default=5, help="number of passages (default 5)")
    p.add_argument("--json", action="store_true", help="print one JSON object per question")
    p.add_argument("--batch", help="file with one question a line (or JSON lines with 'question', 'id'); - for stdin")
    p.add_argument("--retriever", default=os.environ.get("KAMERQA_RETRIEVER", "hybrid"))
    _index_arg(p)
    _model_arg(p)
    _filter_args(p)
    p.set_defaults(func=cmd_ask)

    from qa import evaluate

    p = sub.add_parser("eval", help="measure retrieval on a question set")
    evaluate.add_arguments(p)
    p.set_defaults(func=evaluate.run)

    from corpus import fetch

    p = sub.add_parser("fetch", help="download Kamerbrieven from the official open data service")
    fetch.add_arguments(p)
    p.set_defaults(func=fetch.run)

    from qa import bench

    p = sub.add_parser("bench", help="measure encoder speed, search latency, memory and recall")
    bench.add_arguments(p)
    p.set_defaults(func=bench.run)

    p = sub.add_parser("serve", help="start the browser app")
    p.add_argument("--host", default=os.environ.get("KAMERQA_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    _index_arg(p)
    _model_arg(p)
    p.set_defaults(func=lambda a: __import__("app").main([*(["--index", str(a.index)] if a.index else []),
                                                           *(["--model", a.model] if a.model else []),
                                                           "--host", a.host, "--port", str(a.port)]))

    p = sub.add_parser("feedback", help="export the thumbs up/down given in the browser app")
    feedback_sub = p.add_subparsers(dest="action", required=True)
    e = feedback_sub.add_parser("export", help="write all feedback as CSV or JSON")
    e.add_argument("--format", choices=("csv", "json"), default="csv")
    e.add_argument("--db", type=Path, default=None,
                   help="feedback SQLite file (default: $KAMERQA_FEEDBACK_DB, else the user data folder)")
    e.add_argument("--out", type=Path, default=None, help="file to write (default: stdout)")
    from qa import feedback

    e.set_defaults(func=feedback.run_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    from corpus.readers import CorpusError
    from index.embed import ModelError
    from index.store import IndexError_
    from qa.search import QuestionError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except (UserError, CorpusError, ModelError, IndexError_, QuestionError) as e:
        print(f"kamerqa {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"kamerqa {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
