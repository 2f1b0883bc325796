"""Crashes: `kamerqa index` killed (SIGKILL) at random moments never leaves an index that fails to load,
and a corrupted or truncated index file is detected on load with a message that names the fix.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index.store import load_index
from index.store import IndexError_, read_manifest
from qa.cli import main
from qa.search import open_index, search

ROOT = Path(__file__).resolve().parents[1]
TOPICS = ["dijken", "stikstof", "asiel", "onderwijs", "spoorwegen", "woningbouw", "zorgverzekering", "defensie",
          "belastingen", "klimaat", "visserij", "politie", "rechtspraak", "energie", "landbouw", "pensioenen"]
WORDS = ("de minister schrijft dat het kabinet in het komende jaar extra middelen vrijmaakt voor de uitvoering "
         "van het beleid en de Kamer hierover voor de zomer nader informeert over de voortgang").split()


def write_letters(folder: Path, n: int, seed: int = 7) -> None:
    """`n` generated letters; letter i is about TOPICS[i % len(TOPICS)]."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        paragraphs = []
        for _ in range(6):
            sentences = [" ".join([topic.capitalize(), *rng.choices(WORDS, k=rng.randint(8, 20))]) + "."
                         for _ in range(rng.randint(2, 5))]
            paragraphs.append(" ".join(sentences))
        (folder / f"brief-{i:04d}.txt").write_text(
            f"Aan de Voorzitter van de Tweede Kamer\n\nDen Haag, {1 + i % 28} mei 2020\n\nOnderwerp: {topic}\n\n"
            + "\n\n".join(paragraphs) + "\n\nDe Minister van Algemene Zaken,\nJ. Jansen\n")


def index_command(corpus: Path, index: Path) -> list[str]:
    return [sys.executable, "-m", "qa.cli", "index", "--corpus", str(corpus), "--index", str(index),
            "--model", "fake", "--quiet"]


def run_index(corpus: Path, index: Path) -> subprocess.CompletedProcess:
    return subprocess.run(index_command(corpus, index), cwd=ROOT, capture_output=True, text=True, timeout=60)


def assert_answers(index_path: Path) -> None:
    index = open_index(index_path, "fake")
    hits = search(index, "stikstof", k=3)
    assert hits and all(hit.letter.text.count("Stikstof") for hit in hits)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    write_letters(root / "corpus", 80)
    done = run_index(root / "corpus", root / "index")
    assert done.returncode == 0, done.stderr
    return root


def timed_run(corpus: Path, index: Path) -> tuple[float, float]:
    """One full run: (seconds until its new generation folder appears, seconds it takes to write that
    generation and switch the manifest to it)."""
    before = set(index.glob("gen-*"))
    old = read_manifest(index)["generation"]
    started = time.perf_counter()
    proc = subprocess.Popen(index_command(corpus, index), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    writing = switched = None
    while proc.poll() is None:
        now = time.perf_counter() - started
        if writing is None and set(index.glob("gen-*")) - before:
            writing = now
        if switched is None and writing is not None and read_manifest(index)["generation"] != old:
            switched = now
        time.sleep(0.002)
    total = time.perf_counter() - started
    assert proc.returncode == 0
    writing = writing if writing is not None else 0.8 * total
    return writing, (switched or total) - writing


def kill_at_random(corpus: Path, index: Path, rng: random.Random, anywhere: bool, writing: float,
                   write_time: float) -> bool:
    """Start `kamerqa index` and SIGKILL it at a random moment: anywhere in the run, or, timed from the
    moment its new generation folder appears, while it writes and switches to it. Whether it was killed."""
    before = {g.name for g in index.glob("gen-*")}
    proc = subprocess.Popen(index_command(corpus, index), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    if anywhere:
        time.sleep(rng.uniform(0, writing + write_time))
    else:  # machine load makes run times vary: wait for the writing to start rather than guess it
        while proc.poll() is None and not {g.name for g in index.glob("gen-*")} - before:
            time.sleep(0.002)
        time.sleep(rng.uniform(0, write_time * 1.1))
    killed = proc.poll() is None
    if killed:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    return killed


@pytest.mark.slow
def test_sigkill_at_random_moments_never_breaks_the_index(built):
    corpus, index = built / "corpus", built / "index"
    writing, write_time = timed_run(corpus, index)
    write_time = max(write_time, 0.02)
    rng = random.Random(int(os.environ.get("KAMERQA_CRASH_SEED", "20240607")))
    killed, attempts, caught_writing = 0, 0, 0
    while (killed < 20 or not caught_writing) and attempts < 40:
        attempts += 1
        before = {g.name for g in index.glob("gen-*")}
        killed += kill_at_random(corpus, index, rng, attempts % 3 == 0, writing, write_time)
        half_written = {g.name for g in index.glob("gen-*")} - before - {read_manifest(index)["generation"]}
        caught_writing += bool(half_written)
        assert_answers(index)  # the old or the new index: whole, verified, answering
    assert killed >= 20, f"only {killed} of {attempts} runs were still running when killed"
    assert caught_writing, "no kill landed while a new generation was being written"
    done = run_index(corpus, index)
    assert done.returncode == 0, done.stderr
    assert [g.name for g in index.glob("gen-*")] == [read_manifest(index)["generation"]], "stale generations kept"
    assert not list(index.glob(".manifest.json.*.tmp"))
    assert_answers(index)
    print(f"{killed} kills in {attempts} runs (writing from {writing:.2f} s for {write_time:.2f} s); "
          f"{caught_writing} left a half-written generation, which was never loaded")


# ---- corrupted and truncated index files -------------------------------------------------------

@pytest.fixture
def small_index(tmp_path, letters_dir) -> Path:
    path = tmp_path / "index"
    assert main(["index", "--corpus", str(letters_dir), "--index", str(path), "--model", "fake", "--quiet"]) == 0
    return path


def generation(path: Path) -> Path:
    return path / read_manifest(path)["generation"]


def flip_bytes(file: Path) -> None:
    data = bytearray(file.read_bytes())
    for at in range(len(data) // 2, len(data) // 2 + 8):
        data[at] ^= 0xFF
    file.write_bytes(bytes(data))


def truncate(file: Path) -> None:
    with open(file, "r+b") as f:
        f.truncate(file.stat().st_size // 2)


def damage_manifest(path: Path) -> None:
    (path / "manifest.json").write_text('{"format_version": 3, "generation": "gen-')


def old_format(path: Path) -> None:
    manifest = json.loads((path / "manifest.json").read_text())
    (path / "manifest.json").write_text(json.dumps({**manifest, "format_version": 1}))


DAMAGE = {
    "flipped passages.faiss": (lambda p: flip_bytes(generation(p) / "passages.faiss"), "corrupted"),
    "truncated passages.jsonl": (lambda p: truncate(generation(p) / "passages.jsonl"), "truncated"),
    "truncated letters.jsonl": (lambda p: truncate(generation(p) / "letters.jsonl"), "truncated"),
    "empty sentences.faiss": (lambda p: (generation(p) / "sentences.faiss").write_bytes(b""), "truncated"),
    "deleted sentence_owner.npy": (lambda p: (generation(p) / "sentence_owner.npy").unlink(), "missing"),
    "deleted generation": (lambda p: __import__("shutil").rmtree(generation(p)), "missing"),
    "damaged manifest": (damage_manifest, "damaged"),
    "deleted manifest": (lambda p: (p / "manifest.json").unlink(), "no index at"),
    "old format": (old_format, "format 1"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_index_is_detected_with_the_fix(small_index, damage, capsys):
    spoil, words = DAMAGE[damage]
    spoil(small_index)
    with pytest.raises(IndexError_) as caught:
        load_index(small_index)
    message = str(caught.value)
    assert words in message and f"kamerqa index --index {small_index}" in message
    assert main(["ask", "--index", str(small_index), "--model", "fake", "dijken"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("kamerqa ask: ") and "kamerqa index" in err


def test_same_size_damage_is_caught_even_without_the_deep_check(small_index):
    """Without checksums a same-size change must still fail with IndexError_, never a crash or a traceback."""
    passages = generation(small_index) / "passages.jsonl"
    rows = passages.read_text().splitlines()
    first = json.loads(rows[0])
    spoiled = json.dumps({**first, "letter_id": "x" * len(first["letter_id"])}, ensure_ascii=False)
    passages.write_text("\n".join([spoiled, *rows[1:]]) + "\n")
    assert passages.stat().st_size == read_manifest(small_index)["files"]["passages.jsonl"]["bytes"]
    with pytest.raises(IndexError_, match="kamerqa index"):
        load_index(small_index, deep_check=False)


@pytest.mark.slow
def test_ask_cli_on_a_corrupted_index_in_a_subprocess(small_index):
    flip_bytes(generation(small_index) / "passages.faiss")
    done = subprocess.run([sys.executable, "-m", "qa.cli", "ask", "--index", str(small_index), "dijken"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr and "kamerqa index" in done.stderr
