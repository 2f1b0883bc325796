"""A bounded load test of the app's `/ask` API on 127.0.0.1: CLIENTS threads, each asking QUESTIONS
questions one after another over plain HTTP (Gradio's `/gradio_api/call/ask`), so the client costs
little CPU next to the server it measures. Each client keeps one session, as Gradio's own client
(gradio_client) does; --session-per-question makes every question start a new one. Prints one JSON
line: errors, throughput, p50/p95/max.

    python bench/load.py --url http://127.0.0.1:7860/ [--clients 20] [--questions 10] [--rounds 3]
    python bench/load.py --start INDEX_DIR [--port 7871] [--code DIR] ...   (starts `python app.py` itself,
                                                 of the checkout DIR, and also reports the seconds to its first answer)

Only loopback URLs are accepted; every request has a timeout and the whole run is bounded.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

QUESTIONS = [
    "Wat wil Nederland op het gebied van secundaire migratie?", "what does NL want on secondary migration?",
    "Wanneer zijn de dijken in Noord-Holland klaar?", "Hoeveel asielaanvragen waren er?",
    "Waarom werd de melk gestandaardiseerd?", "Wie onderhoudt de dijken?", "dijken kosten",
    "<script>alert(1)</script> onderwijs", "Wat doet het kabinet aan het lerarentekort?",
    "What did the minister decide about the Oesterdam lock?",
]
TIMEOUT = 60  # seconds for one question


def ask(url: str, question: str, session: str | None = None) -> float:
    """Seconds from posting `question` to the complete answer; raises on any error. `session`: the client's
    session hash, sent with each question as Gradio's own client does; None lets the app start a new
    session for the question (a fresh copy of the page's component state: the costlier case)."""
    started = time.perf_counter()
    body = json.dumps({"data": [question, [], [], "", "", "", ""], "session_hash": session}).encode()
    request = urllib.request.Request(url + "gradio_api/call/ask", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        event = json.load(response)["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/ask/{event}", timeout=TIMEOUT) as stream:
        text = stream.read().decode()
    if "event: complete" not in text:
        raise RuntimeError(f"no answer for {question!r}: {text[-300:]}")
    return time.perf_counter() - started


def one_round(url: str, clients: int, questions: int, keep_session: bool = True) -> dict:
    def client(number: int) -> list[float]:
        session = uuid.uuid4().hex if keep_session else None
        return [ask(url, QUESTIONS[(number + i) % len(QUESTIONS)], session) for i in range(questions)]

    started = time.perf_counter()
    errors, latencies = 0, []
    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client, n) for n in range(clients)]:
            try:
                latencies += future.result(timeout=clients * questions * TIMEOUT)
            except Exception:  # noqa: BLE001 - counted, the run goes on
                errors += 1
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"questions": len(latencies), "errors": errors, "per_s": round(len(latencies) / elapsed, 1),
            "p50_ms": round(1000 * statistics.median(latencies)) if latencies else None,
            "p95_ms": round(1000 * latencies[max(0, int(0.95 * len(latencies)) - 1)]) if latencies else None,
            "max_ms": round(1000 * latencies[-1]) if latencies else None}


def first_answer(url: str, index: str, port: int, limit: float = 120,
                 code: Path | None = None) -> tuple[subprocess.Popen, float]:
    """Start `python app.py` (of the checkout `code`, default this one) on `index`; seconds until its first
    answer through the API."""
    app = (code or Path(__file__).resolve().parents[1]) / "app.py"
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(app), "--index", index, "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while time.perf_counter() - started < limit:
        if proc.poll() is not None:
            raise SystemExit(f"the app exited with {proc.returncode}")
        try:
            ask(url, "Wat wil Nederland op het gebied van secundaire migratie?")
            return proc, time.perf_counter() - started
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"no answer within {limit} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:7860/")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--questions", type=int, default=10, help="questions per client")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--start", metavar="INDEX_DIR", help="start `python app.py --index INDEX_DIR` on --port first")
    ap.add_argument("--port", type=int, default=7871)
    ap.add_argument("--code", type=lambda p: Path(p).resolve(), help="with --start: the checkout whose app.py to start "
                    "(default: this one)")
    ap.add_argument("--session-per-question", action="store_true",
                    help="send no session hash, so every question starts a new session (default: one per client, "
                         "as gradio_client does)")
    args = ap.parse_args(argv)
    url = f"http://127.0.0.1:{args.port}/" if args.start else args.url.rstrip("/") + "/"
    if urllib.parse.urlparse(url).hostname not in ("127.0.0.1", "localhost", "::1"):
        ap.error("load tests only go to this machine (127.0.0.1)")
    proc, out = None, {}
    if args.start:
        proc, seconds = first_answer(url, args.start, args.port, code=args.code)
        out["first_answer_s"] = round(seconds, 2)
        out["code"] = str(args.code or Path(__file__).resolve().parents[1])
    try:
        ask(url, "warm-up")
        rounds = [one_round(url, args.clients, args.questions, not args.session_per_question)
                  for _ in range(args.rounds)]
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=30)
    summary = {key: statistics.median(r[key] for r in rounds) for key in ("per_s", "p50_ms", "p95_ms", "max_ms")}
    print(json.dumps({**out, "clients": args.clients, "questions_each": args.questions,
                      "sessions": "one per question" if args.session_per_question else "one per client",
                      "load_average": round(os.getloadavg()[0], 2), "rounds": rounds,
                      "errors": sum(r["errors"] for r in rounds), "median": summary}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
