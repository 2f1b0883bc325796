"""The `kamerqa` command: index, ask, chat, eval, fetch, serve, bench, feedback."""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

from qa.errors import UserError, run_command




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
    from corpus.readers import default_corpus, read_corpus
    from index.build import BuildSettings, build_index
    from index.embed import load_embedder
    from index.store import default_index_dir

    paths = args.corpus or default_corpus()
    result = read_corpus(paths)
    for source, reason in result.skipped:
        print(f"skipped {source}: {reason}", file=sys.stderr)
    if not result.letters:
        raise UserError(f"no letters found in {', '.join(map(str, paths))}; give .jsonl files or folders of "
                        f".txt/.md/.html/.pdf/.xml/.json letters with --corpus")
    path = args.index or default_index_dir()
    if args.ray is not None:
        from index.distributed import RaySettings, build_index_ray

        cluster = RaySettings(address=args.ray or os.environ.get("RAY_ADDRESS") or None, actors=args.ray_actors)
        report = build_index_ray(result.letters, path, args.model, BuildSettings(), cluster, progress=not args.quiet)
        print(f"ray: {report.shards} shards ({report.shards_reused} from an interrupted build) on "
              f"{report.actors} encoder actors", file=sys.stderr)
    else:
        report = build_index(result.letters, path, load_embedder(args.model), BuildSettings(), progress=not args.quiet)
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


def _llm_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--llm", default=os.environ.get("KAMERQA_LLM_URL", ""), metavar="URL",
                   help="write the answer with an OpenAI-compatible server at URL (e.g. http://127.0.0.1:8080/v1; "
                        "default $KAMERQA_LLM_URL, else none: offline and extractive); every sentence is checked")
    p.add_argument("--llm-model", default=os.environ.get("KAMERQA_LLM_MODEL", ""), help="the server's model name")
    p.add_argument("--llm-timeout", type=float, default=30.0, help="seconds to wait for the server (default 30)")


def _llm_config(args):
    from qa.llm import LLMConfig

    return LLMConfig(args.llm, args.llm_model, args.llm_timeout) if args.llm else None


def _read_history(path: Path) -> list[str]:
    """The questions of earlier turns: JSON lines with a 'question' (or plain lines), oldest first."""
    try:
        return [q for _, q in _read_batch(str(path))]
    except OSError as e:
        raise UserError(f"cannot read the history file {path}: {e.strerror}; give JSON lines with a 'question'") from None


def _answer(index, question: str, history: list, args, filters):
    """One turn: the conversation's next answer, and the checked LLM answer when a server is configured."""
    from qa.conversation import ask
    from qa.llm import llm_answer

    turn = ask(index, question, history, filters, k=max(args.k, 10), retriever=args.retriever)
    config = _llm_config(args)
    llm = None
    if config is not None:
        llm = (llm_answer(config, turn.resolved.query, list(turn.hits), index) if turn.answer.answered else
               _no_llm(config, "the passages do not answer well enough; the LLM was not asked"))
    return turn, llm


def _no_llm(config, reason: str):
    from qa.llm import LLMAnswer

    return LLMAnswer(config.model, (), fallback=reason)


def _print_turn(turn, llm, ms: float) -> None:
    from qa.llm import as_text

    print(as_text(llm, turn.answer) if llm is not None else turn.answer.as_text())
    if turn.letter_facts():
        print(turn.letter_facts())
    print(turn.resolved.describe())
    print(f"({ms:.0f} ms)\n", flush=True)


def cmd_ask(args) -> int:
    from qa.answer import compose_answer
    from qa.conversation import replay
    from qa.search import QuestionError, open_index, search

    if not args.question and not args.batch:
        raise UserError("give a question, or --batch FILE with one question a line")
    index = open_index(args.index, args.model)
    filters = _filters(args)
    history = replay(index, _read_history(args.history), filters, retriever=args.retriever) if args.history else []
    items = _read_batch(args.batch) if args.batch else [(None, " ".join(args.question))]
    for qid, question in items:
        started = time.perf_counter()
        turn, llm = None, None
        try:
            if history or args.llm:
                turn, llm = _answer(index, question, history, args, filters)
                hits, answer = list(turn.hits)[:args.k], turn.answer
            else:
                hits = search(index, question, k=args.k, retriever=args.retriever, filters=filters)
                answer = compose_answer(question, hits, index)
            error = None
        except QuestionError as e:
            if not args.batch:
                raise UserError(str(e)) from None
            hits, error = [], str(e)
            answer = compose_answer(question, hits, index)
        ms = (time.perf_counter() - started) * 1000
        if args.json:
            out = {"question": question, "hits": [h.to_json() for h in hits], "answered": answer.answered,
                   "answer": answer.to_json(), "ms": round(ms, 1)}
            if qid is not None:
                out["id"] = qid
            if error:
                out["error"] = error
            if turn is not None:
                out["searched"] = turn.resolved.to_json() | {"letter_facts": turn.letter_facts()}
            if llm is not None:
                out["llm"] = llm.to_json()
            print(json.dumps(out, ensure_ascii=False), flush=True)
        elif turn is not None:
            _print_turn(turn, llm, ms)
        else:
            print(answer.as_text())
            print(f"({ms:.0f} ms)\n")
    return 0


def _fetch_args(p: argparse.ArgumentParser) -> None:
    from corpus.fetch import DEFAULT_BASE_URL

    p.add_argument("--base-url", default=os.environ.get("KAMERQA_FETCH_BASE_URL") or DEFAULT_BASE_URL,
                   help=f"the publications service (env KAMERQA_FETCH_BASE_URL; default {DEFAULT_BASE_URL})")
    p.add_argument("--sru-path", default="sru", help="path of the SRU endpoint under --base-url")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for the letters (<id>.json); default: 'letters' in the user data dir")
    p.add_argument("--from", dest="date_from", metavar="DATE", help="first date, yyyy-mm-dd")
    p.add_argument("--to", dest="date_to", metavar="DATE", help="last date, yyyy-mm-dd")
    p.add_argument("--dossier", metavar="N", help="only this dossier, e.g. 32545")
    p.add_argument("--max", dest="max_records", type=int, metavar="N",
                   help="look at no more than N search results (the next run resumes)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    p.add_argument("--retries", type=int, default=3, help="retries on 5xx and timeouts")
    p.add_argument("--interval", type=float, default=0.5, help="minimum seconds between requests (be polite)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_fetch(args) -> int:
    """One line per skipped record and a summary on stderr."""
    from tqdm import tqdm

    from corpus.fetch import default_out_dir, fetch

    out = args.out or default_out_dir()
    result = fetch(out, args.base_url, args.date_from, args.date_to, args.dossier, args.max_records,
                   sru_path=args.sru_path, timeout=args.timeout, retries=args.retries, min_interval=args.interval,
                   progress=not args.quiet, on_skip=lambda line: tqdm.write(line, file=sys.stderr))
    rest = "" if result.complete else "; stopped at --max, run again to continue"
    print(f"kamerqa fetch: {len(result.stored)} stored, {len(result.unchanged)} unchanged, "
          f"{len(result.skipped)} skipped in {out}{rest}", file=sys.stderr)
    return 0


def cmd_feedback_export(args) -> int:
    from qa.feedback import default_feedback_db, export_feedback

    db = args.db or default_feedback_db()
    if not Path(db).exists():
        raise UserError(f"no feedback file at {db}; give thumbs up/down in the app first, or pass --db")
    text = export_feedback(args.format, db)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def cmd_serve(args) -> int:
    import app  # gradio loads only for the app

    return app.serve(args.index, args.model, args.host, args.port, args.no_login, _llm_config(args))


def cmd_chat(args) -> int:
    """Questions from stdin, one a line, each answered as the next turn of one conversation."""
    from qa.search import QuestionError, open_index

    index = open_index(args.index, args.model)
    filters, history = _filters(args), []
    interactive = sys.stdin.isatty()
    if interactive:
        print("kamerqa chat: ask a question (a follow-up may refer back; an empty line or Ctrl-D ends)")
    while True:
        if interactive:
            print("> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line or (interactive and not line.strip()):
            return 0
        if not line.strip():
            continue
        started = time.perf_counter()
        try:
            turn, llm = _answer(index, line.strip(), history, args, filters)
        except QuestionError as e:
            print(f"kamerqa chat: {e}", file=sys.stderr)
            continue
        history.append(turn)
        _print_turn(turn, llm, (time.perf_counter() - started) * 1000)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kamerqa", description="Ask questions of Dutch parliamentary letters.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="read, chunk and embed letters into an index")
    p.add_argument("--corpus", type=Path, action="append",
                   help="a .jsonl file or a folder of letters (repeatable; default: ../shared/corpus)")
    _index_arg(p)
    _model_arg(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="build on a Ray cluster: ADDRESS (else $RAY_ADDRESS), or a local cluster when neither "
                        "is given (needs pip install 'kamerqa[ray]'; see docs/SCALE.md)")
    p.add_argument("--ray-actors", type=int, default=None, metavar="N",
                   help="encoder actors for --ray (default: one per CPU of the cluster)")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", help="answer a question with cited passages")
    p.add_argument("question", nargs="*")
    p.add_argument("-k", type=int, default=5, help="number of passages (default 5)")
    p.add_argument("--json", action="store_true", help="print one JSON object per question")
    p.add_argument("--batch", help="file with one question a line (or JSON lines with 'question', 'id'); - for stdin")
    p.add_argument("--retriever", default=os.environ.get("KAMERQA_RETRIEVER", "hybrid"))
    p.add_argument("--history", type=Path, help="earlier turns of the conversation (JSON lines with 'question', "
                                                 "oldest first): the question is answered as a follow-up")
    _index_arg(p)
    _model_arg(p)
    _filter_args(p)
    _llm_args(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("chat", help="a conversation in the terminal: one question a line on stdin, "
                                    "follow-ups resolved against the previous turn")
    p.add_argument("-k", type=int, default=5, help="number of passages (default 5)")
    p.add_argument("--retriever", default=os.environ.get("KAMERQA_RETRIEVER", "hybrid"))
    _index_arg(p)
    _model_arg(p)
    _filter_args(p)
    _llm_args(p)
    p.set_defaults(func=cmd_chat)

    from qa import cli_eval

    p = sub.add_parser("eval", help="measure retrieval on a question set")
    cli_eval.add_arguments(p)
    p.set_defaults(func=cli_eval.run)

    p = sub.add_parser("fetch", help="download Kamerbrieven from the official open data service")
    _fetch_args(p)
    p.set_defaults(func=cmd_fetch)

    from qa import bench

    p = sub.add_parser("bench", help="measure encoder speed, search latency, memory and recall")
    bench.add_arguments(p)
    p.set_defaults(func=bench.run)

    p = sub.add_parser("serve", help="start the browser app (also: python app.py)")
    _index_arg(p)
    p.add_argument("--model", default=None, help="embedding model (default: the index's own)")
    p.add_argument("--host", default=os.environ.get("KAMERQA_HOST", "127.0.0.1"),
                   help="address to serve on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    p.add_argument("--no-login", action="store_true",
                   help="allow a non-loopback --host without a login (KAMERQA_USERNAME/KAMERQA_PASSWORD)")
    _llm_args(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("feedback", help="export the thumbs up/down given in the browser app")
    feedback_sub = p.add_subparsers(dest="action", required=True)
    e = feedback_sub.add_parser("export", help="write all feedback as CSV or JSON")
    e.add_argument("--format", choices=("csv", "json"), default="csv")
    e.add_argument("--db", type=Path, default=None,
                   help="feedback SQLite file (default: $KAMERQA_FEEDBACK_DB, else the user data folder)")
    e.add_argument("--out", type=Path, default=None, help="file to write (default: stdout)")
    e.set_defaults(func=cmd_feedback_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    # quiet third-party loading (set here, not in the library): no "Loading weights" bars, no load reports
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    args = build_parser().parse_args(argv)
    return run_command(args.command, lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
