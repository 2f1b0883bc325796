"""`kamerqa ask` and `kamerqa chat`: questions in, cited answers out (JSON for scripts), optionally
following a conversation and written by a checked LLM."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from qa.answer import compose_answer
from qa.conversation import ask, replay
from qa.errors import UserError
from qa.llm import LLMAnswer, as_text, llm_answer
from qa.llm_client import LLMConfig
from qa.search import Filters, QuestionError, open_index, search


def _filters(args):
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


def add_llm_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--llm", default=os.environ.get("KAMERQA_LLM_URL", ""), metavar="URL",
                   help="write the answer with an OpenAI-compatible server at URL (e.g. http://127.0.0.1:8080/v1; "
                        "default $KAMERQA_LLM_URL, else none: offline and extractive); every sentence is checked")
    p.add_argument("--llm-model", default=os.environ.get("KAMERQA_LLM_MODEL", ""), help="the server's model name")
    p.add_argument("--llm-timeout", type=float, default=30.0, help="seconds to wait for the server (default 30)")


def llm_config(args):
    return LLMConfig(args.llm, args.llm_model, args.llm_timeout) if args.llm else None


def _read_history(path: Path) -> list[str]:
    """The questions of earlier turns: JSON lines with a 'question' (or plain lines), oldest first."""
    try:
        return [q for _, q in _read_batch(str(path))]
    except OSError as e:
        raise UserError(f"cannot read the history file {path}: {e.strerror}; give JSON lines with a 'question'") from None


def _answer(index, question: str, history: list, args, filters):
    """One turn: the conversation's next answer, and the checked LLM answer when a server is configured."""
    turn = ask(index, question, history, filters, k=max(args.k, 10), retriever=args.retriever)
    config = llm_config(args)
    llm = None
    if config is not None:
        llm = (llm_answer(config, turn.resolved.query, list(turn.hits), index) if turn.answer.answered else
               _no_llm(config, "the passages do not answer well enough; the LLM was not asked"))
    return turn, llm


def _no_llm(config, reason: str):
    return LLMAnswer(config.model, (), fallback=reason)


def _print_turn(turn, llm, ms: float) -> None:
    print(as_text(llm, turn.answer) if llm is not None else turn.answer.as_text())
    if turn.letter_facts():
        print(turn.letter_facts())
    print(turn.resolved.describe())
    print(f"({ms:.0f} ms)\n", flush=True)


def cmd_ask(args) -> int:
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


def cmd_chat(args) -> int:
    """Questions from stdin, one a line, each answered as the next turn of one conversation."""
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
