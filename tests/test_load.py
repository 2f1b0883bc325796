"""A bounded load test: 20 concurrent clients x 10 questions through the app's `/ask` API on 127.0.0.1.

The app runs as its own process (`python app.py`) on a free loopback port with an index of the test
letters built with the fake embedder. Zero errors are allowed; p50/p95 latency and throughput are printed
(`pytest -s tests/test_load.py`) and recorded in docs/ROBUSTNESS.md.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.slow
gradio_client = pytest.importorskip("gradio_client")

ROOT = Path(__file__).resolve().parents[1]
CLIENTS, QUESTIONS_EACH = 20, 10
QUESTIONS = [
    "Wanneer zijn de dijken in Noord-Holland klaar?", "Wat kost de versterking van de dijken?",
    "Hoeveel asielaanvragen waren er?", "Wat doet het kabinet aan het lerarentekort?",
    "Welke gevolgen heeft de dijkversterking voor de scheepvaart?", "Wie onderhoudt de dijken?",
    "dijken", "<script>alert(1)</script> onderwijs", "Wat wil de staatssecretaris met migratie?",
    "Hoeveel geld gaat naar scholen?",
]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    from qa.cli import main

    root = tmp_path_factory.mktemp("load")
    assert main(["index", "--corpus", str(ROOT / "tests" / "letters"), "--index", str(root / "index"),
                 "--model", "fake", "--quiet"]) == 0
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "KAMERQA_FEEDBACK_DB": str(root / "feedback.db")}
    log = open(root / "app.log", "w")
    proc = subprocess.Popen([sys.executable, "app.py", "--index", str(root / "index"), "--host", "127.0.0.1",
                             "--port", str(port)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 90
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the app exited ({proc.returncode}): {(root / 'app.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the app did not start in 90 s: {(root / 'app.log').read_text()[-2000:]}")
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def one_client(url: str, number: int) -> list[float]:
    """Ask QUESTIONS_EACH questions one after another; the latency of each, in seconds."""
    client = gradio_client.Client(url, verbose=False)
    latencies = []
    for i in range(QUESTIONS_EACH):
        question = QUESTIONS[(number + i) % len(QUESTIONS)]
        started = time.perf_counter()
        history, sources = client.predict(question, [], "", "", "", "", api_name="/ask")
        latencies.append(time.perf_counter() - started)
        assert history[-1]["role"] == "assistant" and history[-1]["content"]
        assert "<script>alert" not in sources  # the page never gets a live script from a question or letter
    return latencies


def test_twenty_clients_ten_questions_each_without_errors(app_url):
    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(lambda n: one_client(app_url, n), range(CLIENTS), timeout=300))
    elapsed = time.perf_counter() - started
    latencies = sorted(t for client in results for t in client)
    assert len(latencies) == CLIENTS * QUESTIONS_EACH  # any error above would have raised
    p50 = statistics.median(latencies)
    p95 = latencies[int(0.95 * len(latencies)) - 1]
    print(f"\n{len(latencies)} questions from {CLIENTS} clients in {elapsed:.1f} s: "
          f"{len(latencies) / elapsed:.1f} questions/s, p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
          f"max {latencies[-1] * 1000:.0f} ms")
