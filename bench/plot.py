"""Plot query latency (p95) and memory per passage against corpus size, one line per index type.

    python bench/plot.py docs/scale.jsonl docs/scale.png
Input: the JSON lines bench/scale.py prints; for each index type the smallest effort with recall@10 >= 0.95.
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict


def best_rows(rows: list[dict], recall: float = 0.95) -> dict[str, list[dict]]:
    chosen: dict[tuple, dict] = {}
    for row in rows:
        key = (row["index"], row["passages"])
        ok = row["recall_at_10"] >= recall
        old = chosen.get(key)
        if old is None or (ok and (old["recall_at_10"] < recall or row["p95_ms"] < old["p95_ms"])):
            chosen[key] = row
    lines = defaultdict(list)
    for (kind, _), row in sorted(chosen.items(), key=lambda kv: kv[0][1]):
        lines[kind].append(row)
    return lines


def main(src: str, out: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in open(src) if line.startswith("{")]
    fig, (lat, mem) = plt.subplots(1, 2, figsize=(10, 4))
    for kind, points in best_rows(rows).items():
        sizes = [p["passages"] for p in points]
        lat.plot(sizes, [p["p95_ms"] for p in points], marker="o", label=kind)
        mem.plot(sizes, [p["bytes_per_passage"] for p in points], marker="o", label=kind)
    lat.set(xscale="log", yscale="log", xlabel="passages", ylabel="p95 latency, ms (1 query, 2 threads)",
            title="search latency at recall@10 >= 0.95")
    mem.set(xscale="log", xlabel="passages", ylabel="bytes per passage", title="vector index memory")
    lat.axhline(100, color="grey", ls=":")
    mem.axhline(500, color="grey", ls=":")
    lat.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
