"""Shared fixtures: small letters written for the tests, and an index built with the fake embedder."""
from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

LETTERS = Path(__file__).parent / "letters"


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true",
                     help="also run the tests marked slow (subprocesses: crash, load); scripts/test.sh does")


def pytest_collection_modifyitems(config, items):
    """The fast tier (`pytest -m "not model and not browser"`) starts no process: tests marked slow
    run only with --slow (as in CI), and are reported as skipped otherwise."""
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="starts processes; run with --slow (scripts/test.sh does)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
def letters_dir(tmp_path: Path) -> Path:
    """A private copy of the test letters (tests may add or change files)."""
    return Path(shutil.copytree(LETTERS, tmp_path / "letters"))


@pytest.fixture
def fake_index(tmp_path: Path, letters_dir: Path):
    """An index of the test letters built with the fake embedder; returns the loaded index."""
    from corpus.readers import read_corpus
    from index.build import build_index
    from index.embed import fake_embedder
    from qa.search import open_index

    path = tmp_path / "index"
    build_index(read_corpus([letters_dir]).letters, path, fake_embedder())
    return open_index(path, "fake")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for an app a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shared_corpus() -> Path:
    """../shared/corpus, or skip the test when this checkout has none beside it."""
    root = SHARED / "corpus"
    if not (root / "sgd" / "letters.jsonl").exists():
        pytest.skip(f"needs the shared corpus at {root}")
    return root


@pytest.fixture(scope="session")
def real_index(tmp_path_factory):
    """The default corpus indexed with the real model (once per test session; the embedding cache in
    the user cache folder makes a second session on the same machine fast)."""
    from corpus.readers import read_corpus
    from index.build import build_index
    from index.embed import load_embedder
    from qa.search import open_index

    root = shared_corpus()
    path = tmp_path_factory.mktemp("real") / "index"
    letters = read_corpus([root / "sgd" / "letters.jsonl", root / "modern"]).letters
    build_index(letters, path, load_embedder())
    return open_index(path)


def answer_always(monkeypatch, answerable: bool) -> None:
    """Make the answer-or-abstain decision `answerable`: the fake embedder's cosines say nothing about
    whether the letters answer, and a test of what an answer shows needs one."""
    from dataclasses import replace

    from qa import abstain

    decide = abstain.decide
    monkeypatch.setattr(abstain, "decide", lambda *a, **k: replace(decide(*a, **k), answerable=answerable))
