"""What the app's start costs: CPU seconds of `import gradio` as it comes and as the app imports it
(`qa.gradio_import.import_gradio`), each in a fresh process, and with --index the seconds from starting
`python app.py` to its first answer through the API. Rounds interleave the kinds; prints one JSON line
with every round, the medians and the load average.

    python bench/app_start.py [--rounds 5] [--index INDEX_DIR] [--port 7872] [--code DIR ...]

--code (repeatable) times the first answer of each checkout's `app.py` (e.g. the main worktree and a
branch's), rounds interleaved; the import figures are this checkout's.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from load import first_answer  # noqa: E402

CPU = "import resource; r = resource.getrusage(resource.RUSAGE_SELF); print(r.ru_utime + r.ru_stime)"
IMPORTS = {
    "gradio_plain": "import gradio",
    "gradio_as_app": "from qa.gradio_import import import_gradio, skip_unused_imports\n"
                     "skip_unused_imports(); import_gradio()",
}


def cpu_seconds(code: str) -> float:
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    out = subprocess.run([sys.executable, "-c", f"{code}\n{CPU}"], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    return float(out.split()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--index", help="also time `python app.py --index INDEX` to its first answer")
    ap.add_argument("--port", type=int, default=7872)
    ap.add_argument("--code", action="append", type=lambda p: Path(p).resolve(),
                    help="a checkout whose app.py to start (repeatable; default: this one)")
    args = ap.parse_args(argv)
    rounds, load_before = [], os.getloadavg()[0]
    for _ in range(args.rounds):
        one = {name: round(cpu_seconds(code), 2) for name, code in IMPORTS.items()}
        for code in (args.code or [None]) if args.index else []:
            proc, seconds = first_answer(f"http://127.0.0.1:{args.port}/", args.index, args.port, code=code)
            proc.terminate()
            proc.wait(timeout=30)
            one["first_answer_s" + (f" {code}" if code else "")] = round(seconds, 2)
        rounds.append(one)
    medians = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    print(json.dumps({"rounds": rounds, "median": medians, "load_average": [load_before, os.getloadavg()[0]]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
