"""Build an index on a Ray cluster (`kamerqa index --ray [ADDRESS]`).

The driver chunks the letters as the single-process build does (while a local cluster starts, in a
thread) and cuts the texts into shards: the encoder calls build_index makes (index/shards.py). A pool of
`ShardEncoder` actors (each loads the model once) embeds them, one shard in flight per actor, the biggest
first, and the driver writes each shard into INDEX/.shards-<corpus fingerprint>/ as it arrives. Then the shards are joined and written by
build.assemble_index: the same folder, manifest and format as a single-process build.

A lost worker is restarted by Ray and its shard embedded again; a build that is killed resumes from the
shards already written. Workers need kamerqa and the model, not the corpus: texts travel through Ray's
object store and only the driver reads and writes files. Ray is an optional extra: pip install 'kamerqa[ray]'.
Not Ray Data: at the default corpus its planning and helper actors cost seconds (docs/SCALE.md).
"""
from __future__ import annotations

import logging
import os
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from corpus.models import Letter
from index import shards
from index.build import EMBED_BATCH, BuildReport, BuildSettings, assemble_index, model_fields
from index.embed import DEFAULT_MODEL, load_embedder
from index.store import IndexError_

CODE_ROOT = Path(__file__).resolve().parents[1]  # the folder holding corpus/, index/, qa/
INSTALL = "pip install 'kamerqa[ray]' (or: pip install 'ray>=2.60')"


class ClusterError(RuntimeError):
    """Ray is missing or the cluster cannot be reached; the message says what to do."""


@dataclass(frozen=True)
class RaySettings:
    address: str | None = None  # a running cluster ("ray://host:10001", "host:6379", "auto"); None: start one here
    actors: int | None = None  # encoder actors; None: one per CPU of the cluster
    cpus: int | None = None  # CPUs of a local cluster; None: the machine's
    texts_per_shard: int = EMBED_BATCH  # build_index's encoder calls: the same batches, the same vectors
    temp_dir: str | None = None  # a local cluster's session files (a short path under /tmp; None: /tmp/ray)


@dataclass
class RayBuildReport(BuildReport):
    shards: int = 0
    shards_reused: int = 0  # written by an earlier, interrupted build
    actors: int = 0
    timeline: dict = field(default_factory=dict)  # seconds from the start: "chunked", "ray_ready", "actors_ready"
    # (the last actor's model loaded), "first_shard", "last_shard", "index_written", "ray_stopped" (bench/ray_build.py)


def import_ray():
    try:
        import ray
    except ImportError as e:
        raise ClusterError(f"the Ray build needs Ray ({e.name} is not installed); {INSTALL}") from None
    return ray


class ShardEncoder:
    """A Ray actor's work: load the embedder once, then embed whole shards of texts."""

    def __init__(self, model: str, backend: str | None, threads: int | None):
        self.embedder = load_embedder(model, backend, threads)
        self.model = model_fields(self.embedder)
        self.loaded = time.time()  # wall clock: the driver's timeline compares it with its own

    def loaded_at(self) -> float:
        return self.loaded

    def embed(self, number: int, texts: list[str]) -> tuple[np.ndarray, dict]:
        """The vectors of shard `number`'s texts, and the model's fields."""
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32), self.model
        return self.embedder.encode_passages(texts), self.model


def start_ray(ray, cluster: RaySettings, progress: bool = True) -> bool:
    """Connect to `cluster.address`, or start a local cluster (loopback only, no dashboard); whether this
    call started it (False: Ray was already initialised in this process)."""
    if ray.is_initialized():
        return False
    env = {k: v for k, v in os.environ.items() if k.startswith("KAMERQA_")}
    quiet = {"logging_level": logging.INFO if progress else logging.WARNING}  # Ray's own start-up lines
    try:
        if cluster.address:
            ray.init(address=cluster.address, runtime_env={"env_vars": env}, include_dashboard=False,
                     log_to_driver=False, **quiet)
        else:  # the local cluster's processes inherit this environment: no runtime_env, so Ray's
            # prestarted workers serve the build (a runtime_env would start a second set)
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # a local cluster sends nothing anywhere
            paths = [str(CODE_ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
            os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))  # workers import this checkout
            ray.init(address="local", num_cpus=cluster.cpus or os.cpu_count(), include_dashboard=False,
                     _node_ip_address="127.0.0.1", _temp_dir=cluster.temp_dir, log_to_driver=False, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ClusterError(f"cannot start or reach the Ray cluster {cluster.address or '(local)'} "
                           f"({type(e).__name__}: {str(e)[:200]}); check the address, or leave it out "
                           f"for a local cluster") from None
    return True


def embed_shards(ray, todo: list[tuple[int, list[str]]], folder: Path, model: str, actors: int,
                 encoder=ShardEncoder, progress: bool = False, timeline: dict | None = None) -> int:
    """Embed the shards `todo` (number, texts) on `actors` encoder actors, one shard in flight each, writing
    each as it arrives; texts embedded. A failed shard stops new work; the shards in flight are still
    written. `timeline` gets the (wall clock) times the actors had loaded the model and shards were written."""
    cpus = ray.cluster_resources().get("CPU", 1)
    actor_class = ray.remote(num_cpus=cpus / actors, max_restarts=-1, max_task_retries=-1)(encoder)
    pool = [actor_class.remote(model, os.environ.get("KAMERQA_BACKEND"), max(1, int(cpus // actors)))
            for _ in range(actors)]
    queue = sorted(todo, key=lambda shard: -sum(map(len, shard[1])))  # the biggest first, so the last
    running, idle = {}, list(pool)  # shards are small and the actors finish close together
    embedded, error = 0, None
    bar = _bar(len(todo), progress)
    try:
        while queue or running:
            while queue and idle:
                actor, (number, texts) = idle.pop(), queue.pop(0)
                running[actor.embed.remote(number, texts)] = (actor, number, len(texts))
            (ref,), _ = ray.wait(list(running), num_returns=1)
            actor, number, count = running.pop(ref)
            idle.append(actor)
            try:
                vectors, model_fields = ray.get(ref)
            except ray.exceptions.RayError as e:
                error, queue = error or e, []
                continue
            shards.write_shard(folder, number, vectors, model_fields)
            embedded += count
            if timeline is not None:
                timeline.setdefault("first_shard", time.time())
                timeline["last_shard"] = time.time()
            if bar:
                bar.update(1)
        if timeline is not None and error is None:
            timeline["actors_ready"] = max(ray.get([actor.loaded_at.remote() for actor in pool]))
    finally:
        for actor in pool:
            ray.kill(actor)
        if bar:
            bar.close()
    if error:
        raise error
    return embedded


def _bar(shard_count: int, show: bool):
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=shard_count, desc="shards", unit="shard")


class LocalStart:
    """Ray started in a thread (so a local cluster comes up while the driver chunks the letters) and, if
    this build started it, shut down in a thread (while the driver writes the index)."""

    def __init__(self, ray, cluster: RaySettings, progress: bool):
        self.ray, self.threads = ray, ThreadPoolExecutor(max_workers=1, thread_name_prefix="kamerqa-ray")
        self.starting = self.threads.submit(start_ray, ray, cluster, progress)

    def wait(self) -> None:
        self.starting.result()  # ClusterError when it cannot start

    def stop(self) -> Future | None:
        """Shut Ray down in the background if this build started it; wait for the returned future."""
        stopping = None
        if self.starting.exception() is None and self.starting.result():
            stopping = self.threads.submit(self.ray.shutdown)
        self.threads.shutdown(wait=False)
        return stopping


def _embed(ray, ray_start: LocalStart, letters: list[Letter], folder: Path, model: str, settings: BuildSettings,
           cluster: RaySettings, encoder, progress: bool) -> tuple[shards.Chunked, RayBuildReport]:
    """Chunk the letters (while Ray starts), then embed the shards not yet written."""
    chunked = shards.chunk_letters(letters, settings, cluster.texts_per_shard)
    if not chunked.passages:
        raise IndexError_("the letters gave no passages (are they empty?); nothing was written")
    done = shards.prepare_folder(folder, chunked, model, settings)
    todo = [(k, texts) for k, texts in enumerate(chunked.shards) if k not in done]
    report = RayBuildReport(letters=len(letters), shards=len(chunked.shards), shards_reused=len(done))
    report.timeline["chunked"] = time.time()
    if not todo:
        return chunked, report
    ray_start.wait()
    report.timeline["ray_ready"] = time.time()
    report.actors = min(cluster.actors or int(ray.cluster_resources().get("CPU", 1)), len(todo))
    try:
        report.embedded = embed_shards(ray, todo, folder, model, report.actors, encoder, progress, report.timeline)
    except ray.exceptions.RayError as e:
        written = len(list(folder.glob("shard-*")))
        reason = str(e).strip().splitlines()[-1][:300]
        raise ClusterError(f"the Ray build of {folder.parent} stopped ({type(e).__name__}: {reason}); {written} of "
                           f"{len(chunked.shards)} shards are written: run the same command again to embed only "
                           f"the rest") from None
    return chunked, report


def build_index_ray(letters: list[Letter], path: Path, model: str | None = None,
                    settings: BuildSettings = BuildSettings(), cluster: RaySettings = RaySettings(),
                    progress: bool = False, encoder=ShardEncoder, scale_from: int | None = None) -> RayBuildReport:
    """build.build_index on a Ray cluster: the same index, from shards embedded by a pool of actors."""
    started, wall = time.perf_counter(), time.time()
    ray = import_ray()
    if not letters:
        raise IndexError_("no letters to index; nothing was written")
    if cluster.actors is not None and cluster.actors < 1:
        raise ClusterError(f"--ray-actors must be at least 1, not {cluster.actors}")
    model = model or os.environ.get("KAMERQA_MODEL") or DEFAULT_MODEL
    path, folder = Path(path), shards.shard_folder(path, letters)
    ray_start = LocalStart(ray, cluster, progress)
    try:
        chunked, report = _embed(ray, ray_start, letters, folder, model, settings, cluster, encoder, progress)
    except BaseException:
        stopping = ray_start.stop()
        if stopping:
            stopping.result()
        raise
    stopping = ray_start.stop()  # in the background, while the index is written
    try:
        passage_vectors, sentence_vectors, model_fields = shards.join_shards(folder, chunked)
        assemble_index(path, letters, chunked.passages, passage_vectors,
                       sentence_vectors if settings.sentences else None, chunked.owner, model_fields, settings,
                       scale_from=scale_from)
        report.timeline["index_written"] = time.time()
    finally:
        if stopping:
            stopping.result()
            report.timeline["ray_stopped"] = time.time()
    shutil.rmtree(folder, ignore_errors=True)
    report.passages, report.sentences = len(chunked.passages), len(chunked.owner)
    report.seconds = time.perf_counter() - started
    report.timeline = {k: round(t - wall, 2) for k, t in sorted(report.timeline.items(), key=lambda kv: kv[1])}
    return report
