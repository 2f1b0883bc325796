"""A build killed (SIGKILL) while embedding resumes without re-embedding what it had finished: the
embedding cache commits every batch, and the rerun embeds only the texts the cache does not hold."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from index.build import build_index
from index.embed import fake_embedder
from tests.test_crash import ROOT, write_letters

# The killed build: the fake embedder, slowed so the kill lands between two committed batches.
SLOW_BUILD = """
import sys, time
from dataclasses import replace
from pathlib import Path
from corpus.readers import read_corpus
from index.build import build_index
from index.embed import fake_embedder
fake = fake_embedder()
slow = replace(fake, encode_passages=lambda texts: (time.sleep(0.3), fake.encode_passages(texts))[1])
build_index(read_corpus([Path(sys.argv[1])]).letters, Path(sys.argv[2]), slow, cache_path=Path(sys.argv[3]))
"""


def cached(cache: Path) -> int:
    if not cache.exists():
        return 0
    with sqlite3.connect(cache) as db:
        try:
            return db.execute("SELECT COUNT(*) FROM v").fetchone()[0]
        except sqlite3.OperationalError:  # killed before the table was made
            return 0


@pytest.mark.slow  # starts and kills a build process
def test_killed_build_resumes_without_re_embedding_finished_batches(tmp_path):
    from corpus.readers import read_corpus

    write_letters(tmp_path / "corpus", 60)
    cache = tmp_path / "cache.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_BUILD, str(tmp_path / "corpus"), str(tmp_path / "index"),
                             str(cache)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while cached(cache) < 512 and proc.poll() is None and time.time() < deadline:  # two batches committed
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    done_before = cached(cache)
    assert done_before >= 512 and not (tmp_path / "index" / "manifest.json").exists()

    fake, seen = fake_embedder(), []
    counting = replace(fake, encode_passages=lambda texts: (seen.extend(texts), fake.encode_passages(texts))[1])
    report = build_index(read_corpus([tmp_path / "corpus"]).letters, tmp_path / "index", counting, cache_path=cache)
    total = cached(cache)
    assert report.embedded == len(seen) == total - done_before > 0  # only what the killed run had not finished
    full = build_index(read_corpus([tmp_path / "corpus"]).letters, tmp_path / "again", fake, cache_path=None)
    assert full.embedded == total  # every distinct text of the corpus is in the cache once
