"""Build an index on a Ray cluster with Ray Data (`kamerqa index --ray [ADDRESS]`).

The pipeline: shards of letters in (`from_items`), chunking as a `map` step, embedding by `map_batches`
on a pool of `ShardEncoder` actors (each loads the model once), each embedded shard written by the driver
into INDEX/.shards-<corpus fingerprint>/ as it arrives (index/shards.py). Then the shards are joined and
written by build.assemble_index: the same folder, manifest and format as a single-process build.

A lost worker is restarted by Ray and its shard embedded again; a build that is killed resumes from the
shards already written. Workers need kamerqa and the model, not the corpus: letters travel through Ray's
object store and only the driver reads and writes files. Ray is an optional extra: pip install 'kamerqa[ray]'.
"""
from __future__ import annotations

import logging
import os
import pickle
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus.models import Letter
from index import shards
from index.build import BuildReport, BuildSettings, assemble_index
from index.embed import DEFAULT_MODEL, load_embedder
from index.store import IndexError_

LETTERS_PER_SHARD = 16  # chosen, not tuned: the default corpus's 419 letters -> 27 shards of ~250 texts,
# a few seconds of work each here, so 2 actors finish close together and a lost shard costs little
CHUNK_CPUS = 0.25  # logical CPUs a chunking task reserves, so chunking runs beside a full actor pool
CODE_ROOT = Path(__file__).resolve().parents[1]  # the folder holding corpus/, index/, qa/
INSTALL = "pip install 'kamerqa[ray]' (or: pip install 'ray[data]')"


class ClusterError(RuntimeError):
    """Ray is missing or the cluster cannot be reached; the message says what to do."""


@dataclass(frozen=True)
class RaySettings:
    address: str | None = None  # a running cluster ("ray://host:10001", "host:6379", "auto"); None: start one here
    actors: int | None = None  # encoder actors; None: one per CPU of the cluster
    cpus: int | None = None  # CPUs of a local cluster; None: the machine's
    letters_per_shard: int = LETTERS_PER_SHARD
    temp_dir: str | None = None  # a local cluster's session files (a short path under /tmp; None: /tmp/ray)


@dataclass
class RayBuildReport(BuildReport):
    shards: int = 0
    shards_reused: int = 0  # written by an earlier, interrupted build
    actors: int = 0


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401  (the extra's pyarrow and pandas)
    except ImportError as e:
        raise ClusterError(f"the Ray build needs Ray Data ({e.name} is not installed); {INSTALL}") from None
    return ray


class ShardEncoder:
    """A Ray actor's work: load the embedder once, then embed whole shards (one a batch)."""

    def __init__(self, model: str, backend: str | None, threads: int | None):
        self.embedder = load_embedder(model, backend, threads)
        self.model = {"model": self.embedder.name, "model_fingerprint": self.embedder.fingerprint,
                      "dimension": self.embedder.dim}

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return self.embedder.encode_passages(texts)

    def __call__(self, batch: dict) -> dict:
        results = []
        for blob in batch["work"]:
            work: shards.ShardWork = pickle.loads(blob)
            results.append(pickle.dumps((self.encode(work.documents), self.encode(work.sentences), self.model)))
        return {"shard": batch["shard"], "work": batch["work"], "vectors": np.array(results, dtype=object)}


def _chunk_row(row: dict, settings: BuildSettings) -> dict:
    work = shards.chunk_shard(int(row["shard"]), shards.letters_from_json(row["letters"]), settings)
    return {"shard": work.number, "work": pickle.dumps(work)}


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


def embed_shards(ray, todo: list[tuple[int, list[Letter]]], folder: Path, model: str, settings: BuildSettings,
                 actors: int, encoder=ShardEncoder, progress: bool = False) -> int:
    """Embed the shards `todo` on `actors` encoder actors, writing each as it arrives; texts embedded."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = progress
    context.print_on_execution_start = progress
    cpus = ray.cluster_resources().get("CPU", 1)
    per_actor = max(0.1, (cpus - CHUNK_CPUS) / actors)
    items = [{"shard": k, "letters": shards.letters_to_json(letters)} for k, letters in todo]
    data = (ray.data.from_items(items, override_num_blocks=len(items))
            .map(_chunk_row, fn_kwargs={"settings": settings}, num_cpus=CHUNK_CPUS)
            .map_batches(encoder, batch_size=1, num_cpus=per_actor,
                         compute=ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=1),
                         fn_constructor_kwargs={"model": model, "backend": os.environ.get("KAMERQA_BACKEND"),
                                                "threads": max(1, int(cpus // actors))}))
    embedded = 0
    for row in data.iter_rows():
        work: shards.ShardWork = pickle.loads(row["work"])
        passage_vectors, sentence_vectors, model_fields = pickle.loads(row["vectors"])
        shards.write_shard(folder, work, passage_vectors, sentence_vectors, model_fields)
        embedded += len(work.documents) + len(work.sentences)
    return embedded


def build_index_ray(letters: list[Letter], path: Path, model: str | None = None,
                    settings: BuildSettings = BuildSettings(), cluster: RaySettings = RaySettings(),
                    progress: bool = False, encoder=ShardEncoder) -> RayBuildReport:
    """build.build_index on a Ray cluster: the same index, from shards embedded by a pool of actors."""
    started = time.perf_counter()
    ray = import_ray()
    if not letters:
        raise IndexError_("no letters to index; nothing was written")
    if cluster.actors is not None and cluster.actors < 1:
        raise ClusterError(f"--ray-actors must be at least 1, not {cluster.actors}")
    model = model or os.environ.get("KAMERQA_MODEL") or DEFAULT_MODEL
    path = Path(path)
    plan = shards.plan_shards(letters, cluster.letters_per_shard)
    folder = shards.shard_folder(path, letters)
    done = shards.prepare_folder(folder, letters, model, settings, cluster.letters_per_shard)
    todo = [(k, run) for k, run in enumerate(plan) if k not in done]
    report = RayBuildReport(letters=len(letters), shards=len(plan), shards_reused=len(plan) - len(todo))
    if todo:
        started_here = start_ray(ray, cluster, progress)
        try:
            report.actors = min(cluster.actors or int(ray.cluster_resources().get("CPU", 1)), len(todo))
            report.embedded = embed_shards(ray, todo, folder, model, settings, report.actors, encoder, progress)
        except ray.exceptions.RayError as e:
            written = len(list(folder.glob("shard-*")))
            reason = str(e).strip().splitlines()[-1][:300]
            raise ClusterError(f"the Ray build of {path} stopped ({type(e).__name__}: {reason}); {written} of "
                               f"{len(plan)} shards are written: run the same command again to embed only the rest") from None
        finally:
            if started_here:
                ray.shutdown()
    whole = shards.join_shards(folder, len(plan), letters)
    if not whole.passages:
        raise IndexError_("the letters gave no passages (are they empty?); nothing was written")
    assemble_index(path, letters, whole.passages, whole.passage_vectors,
                   whole.sentence_vectors if settings.sentences else None, whole.owner, whole.model, settings)
    shutil.rmtree(folder, ignore_errors=True)
    report.passages, report.sentences = len(whole.passages), len(whole.owner)
    report.seconds = time.perf_counter() - started
    return report

