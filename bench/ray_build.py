"""Time the Ray build against the single-process build of the same corpus, and check they agree.

    python bench/ray_build.py [--rounds 3] [--actors 1 2] [--single-threads 2] [--model NAME] [--out DIR]

Each round builds the corpus once single-process (model load + build_index without the SQLite embedding
cache, so it embeds everything, as the Ray build does) and once per actor count with build_index_ray on a
fresh local cluster (ray.init, actors loading the model, embedding, assembling, shutdown): the whole cost
of `kamerqa index --ray`. The order of the builds rotates from round to round, since the machine is shared
and its speed drifts. Prints one JSON line per build, then medians, ratios to the single-process build, and
the agreement of the last indexes (same passages, least cosine of passage and sentence vectors).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from corpus.readers import default_corpus, read_corpus  # noqa: E402
from index.build import build_index  # noqa: E402
from index.store import load_index  # noqa: E402
from index.distributed import RaySettings, build_index_ray  # noqa: E402
from index.embed import load_embedder  # noqa: E402


def single(letters, path: Path, model: str | None, threads: int | None = None) -> tuple[float, int, dict]:
    """Seconds, texts embedded, and when the model was loaded (seconds from the start)."""
    started = time.perf_counter()
    embedder = load_embedder(model, None, threads)
    loaded = time.perf_counter() - started
    report = build_index(letters, path, embedder, cache_path=None)
    return time.perf_counter() - started, report.embedded, {"model_loaded": round(loaded, 2)}


def on_ray(letters, path: Path, model: str | None, actors: int) -> tuple[float, int, dict]:
    started = time.perf_counter()
    report = build_index_ray(letters, path, model, cluster=RaySettings(actors=actors, temp_dir="/tmp/kqbench"))
    return time.perf_counter() - started, report.embedded, report.timeline


def least_cosine(a, b) -> float:
    va, vb = a.reconstruct_n(0, a.ntotal), b.reconstruct_n(0, b.ntotal)
    return float((va * vb).sum(1).min())


def agreement(single_path: Path, ray_path: Path) -> dict:
    a, b = load_index(single_path), load_index(ray_path)
    return {"same_passages": a.passages == b.passages, "passages": len(a.passages),
            "sentences": int(a.sentence_vectors.ntotal),
            "least_cosine_passages": round(least_cosine(a.vectors, b.vectors), 6),
            "least_cosine_sentences": round(least_cosine(a.sentence_vectors, b.sentence_vectors), 6),
            "same_sentence_owner": bool(np.array_equal(a.sentence_owner, b.sentence_owner))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--model", default=None, help="default: the offline multilingual-e5-small")
    parser.add_argument("--corpus", type=Path, action="append", help="default: ../shared/corpus")
    parser.add_argument("--out", type=Path, default=Path("/tmp/kamerqa-ray-bench"), help="index folders")
    parser.add_argument("--single-threads", type=int, default=None, metavar="N",
                        help="also a single-process build on N threads, unpinned as the actors' are")
    args = parser.parse_args(argv)
    letters = read_corpus(args.corpus or default_corpus()).letters
    builds = [("single", lambda path: single(letters, path, args.model))]
    if args.single_threads:
        builds.append((f"single-t{args.single_threads}", lambda path: single(letters, path, args.model, args.single_threads)))
    builds += [(f"ray-{n}", lambda path, n=n: on_ray(letters, path, args.model, n)) for n in args.actors]
    times: dict[str, list[float]] = {name: [] for name, _ in builds}
    for round_number in range(args.rounds):
        shift = round_number % len(builds)
        for name, build in builds[shift:] + builds[:shift]:
            path = args.out / name
            seconds, texts, timeline = build(path)
            times[name].append(seconds)
            print(json.dumps({"round": round_number, "build": name, "seconds": round(seconds, 1), "texts": texts,
                              "texts_per_second": round(texts / seconds, 1), "timeline": timeline,
                              "load": [round(x, 2) for x in os.getloadavg()]}), flush=True)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(json.dumps({"letters": len(letters), "rounds": args.rounds,
                      "median_seconds": {k: round(v, 1) for k, v in medians.items()},
                      "ratio_to_single": {k: round(v / medians["single"], 3) for k, v in medians.items()},
                      "per_round_ratio_to_single": {k: [round(x / s, 3) for x, s in zip(t, times["single"])]
                                                    for k, t in times.items() if k != "single"},
                      "load": [round(x, 2) for x in os.getloadavg()]}), flush=True)
    for name, _ in builds[1:]:
        print(json.dumps({"agreement": name, **agreement(args.out / "single", args.out / name)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
