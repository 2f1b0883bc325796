"""The `kamerqa` command: index, ask, chat, eval, fetch, serve, bench, feedback."""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

from qa.cli_ask import add_llm_args, cmd_ask, cmd_chat, llm_config
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
    if args.ray is not None:
        from index.distributed import RaySettings, build_index_ray

        cluster = RaySettings(address=args.ray or os.environ.get("RAY_ADDRESS") or None, actors=args.ray_actors)
        report = build_index_ray(result.letters, path, args.model, BuildSettings(), cluster, progress=not args.quiet,
                                 scale_from=args.scale_from)
        print(f"ray: {report.shards} shards ({report.shards_reused} from an interrupted build) on "
              f"{report.actors} encoder actors", file=sys.stderr)
    else:
        embedder = load_embedder(args.model, lazy=True)  # compiled only if some text is not in the embedding cache
        report = build_index(result.letters, path, embedder, BuildSettings(), progress=not args.quiet,
                             scale_from=args.scale_from)
    size = sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rate = report.embedded / report.seconds if report.seconds else 0.0
    print(f"indexed {report.letters} letters -> {report.passages} passages, {report.sentences} sentences "
          f"into {path} in {report.seconds:.1f} s ({report.embedded} texts embedded, {rate:.1f}/s; "
          f"{report.letters and len(result.skipped)} skipped); index {size / 2**20:.1f} MB; peak memory {peak:.0f} MB")
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
    """Refuse an open address without a login first; then load the index in a thread while Gradio
    imports (the two take about as long; the index's C parts run beside the import)."""
    from concurrent.futures import ThreadPoolExecutor

    from qa.access import login_for
    from qa.gradio_import import skip_unused_imports

    auth = login_for(args.host, args.no_login)
    skip_unused_imports()  # a served app runs in no notebook and draws no plots: no IPython, no matplotlib
    with ThreadPoolExecutor(1) as pool:
        loading = pool.submit(_open_warm, args.index, args.model)
        import app  # Gradio loads only for the app

        searcher = loading.result()
    return app.serve_searcher(searcher, args.host, args.port, auth, llm_config(args))


def _open_warm(index, model):
    """`open_warm`, saying how long loading took."""
    from qa.search import open_warm

    started = time.perf_counter()
    searcher = open_warm(index, model)
    print(f"kamerqa: {len(searcher.letters)} letters, {len(searcher.passages)} passages loaded in "
          f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    return searcher


def _index_parser(sub) -> None:
    p = sub.add_parser("index", help="read, chunk and embed letters into an index")
    p.add_argument("--corpus", type=Path, action="append",
                   help="a .jsonl file or a folder of letters, or a corpus name: 'default' (../shared/corpus's "
                        "letters) or 'large' (default + sgd/kamerstukken.jsonl) (repeatable; default: default)")
    _index_arg(p)
    _model_arg(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--scale-from", type=int, metavar="N",
                   default=int(os.environ["KAMERQA_SCALE_FROM"]) if os.environ.get("KAMERQA_SCALE_FROM") else None,
                   help="store vector sets of N or more in the layout at scale: IVF-SQ8 passages, float16 sentence "
                        "vectors on disk, passages read by number (env KAMERQA_SCALE_FROM; default 50,000)")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="build on a Ray cluster: ADDRESS (else $RAY_ADDRESS), or a local cluster when neither "
                        "is given (needs pip install 'kamerqa[ray]'; see docs/SCALE.md)")
    p.add_argument("--ray-actors", type=int, default=None, metavar="N",
                   help="encoder actors for --ray (default: one per CPU of the cluster)")
    p.set_defaults(func=cmd_index)


def _question_parsers(sub) -> None:
    """`ask` and `chat`."""
    p = sub.add_parser("ask", help="answer a question with cited passages")
    p.add_argument("question", nargs="*")
    p.add_argument("--json", action="store_true", help="print one JSON object per question")
    p.add_argument("--batch", help="file with one question a line (or JSON lines with 'question', 'id'); - for stdin")
    p.add_argument("--history", type=Path, help="earlier turns of the conversation (JSON lines with 'question', "
                                                 "oldest first): the question is answered as a follow-up")
    p.set_defaults(func=cmd_ask)
    c = sub.add_parser("chat", help="a conversation in the terminal: one question a line on stdin, "
                                    "follow-ups resolved against the previous turn")
    c.set_defaults(func=cmd_chat)
    for p in (p, c):
        p.add_argument("-k", type=int, default=5, help="number of passages (default 5)")
        p.add_argument("--retriever", default=os.environ.get("KAMERQA_RETRIEVER", "hybrid"))
        _index_arg(p)
        _model_arg(p)
        _filter_args(p)
        add_llm_args(p)


def _serve_parser(sub) -> None:
    p = sub.add_parser("serve", help="start the browser app (also: python app.py)")
    _index_arg(p)
    p.add_argument("--model", default=None, help="embedding model (default: the index's own)")
    p.add_argument("--host", default=os.environ.get("KAMERQA_HOST", "127.0.0.1"),
                   help="address to serve on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    p.add_argument("--no-login", action="store_true",
                   help="allow a non-loopback --host without a login (KAMERQA_USERNAME/KAMERQA_PASSWORD)")
    add_llm_args(p)
    p.set_defaults(func=cmd_serve)


def _feedback_parser(sub) -> None:
    p = sub.add_parser("feedback", help="export the thumbs up/down given in the browser app")
    feedback_sub = p.add_subparsers(dest="action", required=True)
    e = feedback_sub.add_parser("export", help="write all feedback as CSV or JSON")
    e.add_argument("--format", choices=("csv", "json"), default="csv")
    e.add_argument("--db", type=Path, default=None,
                   help="feedback SQLite file (default: $KAMERQA_FEEDBACK_DB, else the user data folder)")
    e.add_argument("--out", type=Path, default=None, help="file to write (default: stdout)")
    e.set_defaults(func=cmd_feedback_export)


def build_parser() -> argparse.ArgumentParser:
    from qa import cli_bench, cli_eval  # their measuring code loads only for their commands

    parser = argparse.ArgumentParser(prog="kamerqa", description="Ask questions of Dutch parliamentary letters.")
    sub = parser.add_subparsers(dest="command", required=True)
    _index_parser(sub)
    _question_parsers(sub)
    p = sub.add_parser("eval", help="measure retrieval and answers on a question set")
    cli_eval.add_arguments(p)
    p.set_defaults(func=cli_eval.run)
    p = sub.add_parser("fetch", help="download Kamerbrieven from the official open data service")
    _fetch_args(p)
    p.set_defaults(func=cmd_fetch)
    p = sub.add_parser("bench", help="measure encoder speed, search latency, memory and recall")
    cli_bench.add_arguments(p)
    p.set_defaults(func=cli_bench.run)
    _serve_parser(sub)
    _feedback_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # quiet third-party loading (set here, not in the library): no "Loading weights" bars, no load reports
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    args = build_parser().parse_args(argv)
    return run_command(args.command, lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
