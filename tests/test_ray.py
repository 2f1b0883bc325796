"""The Ray build (index/distributed.py) on a local 2-CPU Ray cluster with the fake embedder: the same index
as a single-process build, a worker killed mid-build, and a resumed build that embeds only missing shards."""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from corpus.readers import read_corpus
from index.build import build_index
from index.store import load_index
from index.embed import fake_embedder
from index.store import read_manifest
from qa.cli import main
from tests.conftest import shared_corpus

LETTERS = 160  # of the shared corpus: ~280 passages, ~1500 sentences
PER_SHARD = 100  # texts a shard: 19 shards over 2 actors


@pytest.fixture(scope="module")
def cluster():
    """One local Ray cluster for the module: 2 CPUs, no dashboard, session files under /tmp."""
    if not os.environ.get("CI"):
        pytest.importorskip("ray", reason="needs the Ray extra: pip install -e '.[ray]'")
    from index.distributed import RaySettings, import_ray, start_ray  # in CI (extra installed) a missing Ray fails

    ray = import_ray()
    started = start_ray(ray, RaySettings(cpus=2, temp_dir=tempfile.mkdtemp(prefix="kqray-", dir="/tmp")))
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def letters():
    return read_corpus([shared_corpus() / "sgd" / "letters.jsonl"]).letters[:LETTERS]


@pytest.fixture(scope="module")
def single(letters, tmp_path_factory):
    path = tmp_path_factory.mktemp("single") / "index"
    build_index(letters, path, fake_embedder(), cache_path=None)
    return load_index(path)


def assert_same_index(path: Path, single) -> None:
    built = load_index(path)
    assert built.passages == single.passages
    for ours, theirs in ((built.vectors, single.vectors), (built.sentence_vectors, single.sentence_vectors)):
        assert ours.ntotal == theirs.ntotal
        cosines = (ours.reconstruct_n(0, ours.ntotal) * theirs.reconstruct_n(0, theirs.ntotal)).sum(1)
        assert cosines.min() >= 0.9999
    assert np.array_equal(built.sentence_owner, single.sentence_owner)
    keys = ("model", "model_fingerprint", "dimension", "settings", "corpus_fingerprint", "faiss", "passages")
    assert {k: built.manifest[k] for k in keys} == {k: single.manifest[k] for k in keys}
    assert not list(path.glob(".shards-*")), "the shards are removed once the index is written"


def build(letters, path: Path, encoder=None, actors: int = 2):
    from index.distributed import RaySettings, ShardEncoder, build_index_ray

    return build_index_ray(letters, path, "fake", cluster=RaySettings(actors=actors, texts_per_shard=PER_SHARD),
                           encoder=encoder or ShardEncoder)


@pytest.mark.ray
@pytest.mark.slow  # a local Ray cluster is processes: not in the fast tier
def test_ray_build_equals_single_process_build(cluster, letters, single, tmp_path):
    report = build(letters, tmp_path / "index")
    assert (report.shards, report.shards_reused, report.actors) == (19, 0, 2)
    assert report.passages == len(single.passages) > 200
    assert_same_index(tmp_path / "index", single)


def dying_encoder(marker: Path):
    """An encoder whose worker process dies on its first shard, once (as on a lost node)."""
    from index.distributed import ShardEncoder

    class DyingEncoder(ShardEncoder):
        def embed(self, number, texts):
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                os._exit(1)
            return super().embed(number, texts)

    return DyingEncoder


@pytest.mark.ray
@pytest.mark.slow  # a local Ray cluster is processes: not in the fast tier
def test_a_worker_killed_mid_build_is_replaced_and_the_build_finishes(cluster, letters, single, tmp_path):
    marker = tmp_path / "killed"
    report = build(letters, tmp_path / "index", dying_encoder(marker))
    assert marker.exists(), "no worker was killed"
    assert report.shards_reused == 0
    assert_same_index(tmp_path / "index", single)


def recording_encoder(log: Path, fail_shard: int | None = None):
    """An encoder that notes each shard it embeds in `log`; on `fail_shard` it waits, then raises."""
    from index.distributed import ShardEncoder

    class RecordingEncoder(ShardEncoder):
        def embed(self, number, texts):
            if number == fail_shard:
                time.sleep(3)  # the other shards finish and are written first
                raise RuntimeError(f"shard {number} fails on purpose")
            with open(log, "a") as f:
                f.write(f"{number}\n")
            return super().embed(number, texts)

    return RecordingEncoder


@pytest.mark.ray
@pytest.mark.slow  # a local Ray cluster is processes: not in the fast tier
def test_cli_index_with_ray(cluster, letters_dir, tmp_path, capsys):
    path = tmp_path / "index"
    assert main(["index", "--corpus", str(letters_dir), "--index", str(path), "--model", "fake", "--quiet",
                 "--ray", "--ray-actors", "2"]) == 0
    assert read_manifest(path)["model"] == "fake"
    assert "encoder actors" in capsys.readouterr().err


# last of the cluster's tests: a build that fails mid-way may leave its actors to Ray's cleanup
@pytest.mark.ray
@pytest.mark.slow  # a local Ray cluster is processes: not in the fast tier
def test_an_interrupted_build_resumes_embedding_only_the_missing_shards(cluster, letters, single, tmp_path):
    from index.distributed import ClusterError

    path, first, second = tmp_path / "index", tmp_path / "first.log", tmp_path / "second.log"
    with pytest.raises(ClusterError, match="run the same command again"):
        build(letters, path, recording_encoder(first, fail_shard=5))
    (folder,) = path.glob(".shards-*")
    written = {int(p.stem.removeprefix("shard-")) for p in folder.glob("shard-*.npz")}
    assert 5 not in written and len(written) >= 8, written
    report = build(letters, path, recording_encoder(second))
    embedded_again = {int(line) for line in second.read_text().split()}
    assert embedded_again == set(range(19)) - written
    assert report.shards_reused == len(written)
    assert_same_index(path, single)


def test_shards_are_the_encoder_calls_of_the_single_process_build(letters, single, tmp_path):
    from dataclasses import replace

    from index.build import EMBED_BATCH, BuildSettings
    from index.shards import chunk_letters

    calls, fake = [], fake_embedder()
    recording = replace(fake, encode_passages=lambda texts: calls.append(list(texts)) or fake.encode_passages(texts))
    build_index(letters, tmp_path / "index", recording, cache_path=None)
    chunked = chunk_letters(letters, BuildSettings(), EMBED_BATCH)
    assert chunked.shards == calls  # so the encoder makes the same batches: the same vectors
    assert chunked.passages == single.passages and np.array_equal(chunked.owner, single.sentence_owner)
    assert len(chunk_letters(letters, BuildSettings(), PER_SHARD).shards) == 19


def test_cli_ray_without_ray_says_what_to_install(letters_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert main(["index", "--corpus", str(letters_dir), "--index", str(tmp_path / "ix"), "--model", "fake",
                 "--ray"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'kamerqa[ray]'" in err
    assert not (tmp_path / "ix" / "manifest.json").exists()
