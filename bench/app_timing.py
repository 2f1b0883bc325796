"""Time the browser app as a user meets it: `python app.py` to a usable page, then the answer time of
ten questions in Chromium (click on Ask to the answer shown).

    python bench/app_timing.py --index DIR [--port 7890]
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

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT.parent / "shared" / "eval" / "dev_questions.jsonl"
CHROMIUM = "/usr/lib/chromium/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"]


def main(argv=None) -> int:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", required=True)
    ap.add_argument("--port", type=int, default=7890)
    args = ap.parse_args(argv)
    rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines()]
    questions = [r["question"] for r in rows if r["lang"] == "nl"][:5] + [r["question"] for r in rows if r["lang"] == "en"][:5]
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False")
    started = time.perf_counter()
    app = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--index", args.index, "--port", str(args.port)],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page()
            for _ in range(600):
                try:
                    page.goto(f"http://127.0.0.1:{args.port}/", timeout=2000)
                    page.locator("#kq-question textarea").wait_for(timeout=2000)
                    break
                except Exception:
                    time.sleep(0.1)
            ready = time.perf_counter() - started
            times = []
            answers = page.locator("#kq-chat .message-row")
            for q in questions:
                before = answers.count()
                page.locator("#kq-question textarea").fill(q)
                t = time.perf_counter()
                page.locator("#kq-ask").click()
                page.wait_for_function(f"document.querySelectorAll('#kq-chat .message-row').length >= {before + 2}",
                                       timeout=60_000)
                times.append(time.perf_counter() - t)
            browser.close()
    finally:
        app.terminate()
        app.wait(timeout=30)
    print(json.dumps({"ready_s": round(ready, 1), "answer_s_median": round(statistics.median(times), 2),
                      "answer_s": [round(x, 2) for x in times]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
