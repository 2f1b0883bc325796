"""What a one-off `kamerqa ask` costs from start to exit: wall and CPU seconds of
`python -m qa.cli ask QUESTION` in fresh processes, for one or more checkouts of the code (--code DIR,
e.g. the main worktree and a branch's), rounds interleaved so the machine's load falls on all alike.
Prints one JSON line: every round, the medians per checkout, the load average before and after.

    python bench/ask_start.py [--rounds 5] [--code DIR ...] [--index INDEX_DIR] [--question Q]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "Wat wil Nederland op het gebied van secundaire migratie?"


def one_ask(code: Path, question: str, index: str | None) -> dict:
    """Wall seconds and the answer's first words of one `python -m qa.cli ask` run from the checkout `code`."""
    command = [sys.executable, "-m", "qa.cli", "ask", question] + (["--index", index] if index else [])
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=code, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=300)
    wall = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"{' '.join(command)} in {code} failed: {err.decode()[-300:]}")
    return {"wall_s": round(wall, 2), "answer": out.decode().splitlines()[1][:60] if out else ""}


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--code", action="append", type=Path, help="a checkout to run (repeatable; default: this one)")
    ap.add_argument("--index", help="index folder (default: kamerqa's default)")
    ap.add_argument("--question", default=QUESTION)
    args = ap.parse_args(argv)
    codes = [c.resolve() for c in (args.code or [ROOT])]
    load_before = os.getloadavg()[0]
    rounds = []
    for _ in range(args.rounds):
        one = {}
        for code in codes:
            cpu = cpu_of_children()
            result = one_ask(code, args.question, args.index)
            one[str(code)] = {**result, "cpu_s": round(cpu_of_children() - cpu, 2)}
        rounds.append(one)
    answers = {r[str(c)]["answer"] for r in rounds for c in codes}
    medians = {str(c): {k: statistics.median(r[str(c)][k] for r in rounds) for k in ("wall_s", "cpu_s")}
               for c in codes}
    print(json.dumps({"question": args.question, "median": medians, "same_answer": len(answers) == 1,
                      "rounds": [{c: {k: v for k, v in r[c].items() if k != "answer"} for c in r} for r in rounds],
                      "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
