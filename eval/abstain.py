"""How often kamerqa abstains: on questions the corpus cannot answer (it should) and on the development
questions (it should not), for a range of thresholds on the best hit's confidence (its cosine to the question).

    python eval/abstain.py --index DIR [--answerable FILE] [--unanswerable FILE] [--retriever hybrid]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from qa.answer import ABSTAIN_BELOW
from qa.search import open_index, search

HERE = Path(__file__).parent


def top_scores(index, path: Path, retriever: str) -> list[float]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [search(index, row["question"], k=1, retriever=retriever)[0].confidence for row in rows]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path, default=None)
    ap.add_argument("--answerable", type=Path, default=HERE.parent.parent / "shared/eval/dev_questions.jsonl")
    ap.add_argument("--unanswerable", type=Path, default=HERE / "unanswerable.jsonl")
    ap.add_argument("--retriever", default="hybrid")
    args = ap.parse_args(argv)
    index = open_index(args.index)
    good = np.array(top_scores(index, args.answerable, args.retriever))
    bad = np.array(top_scores(index, args.unanswerable, args.retriever))
    print(f"best-hit confidence: answerable min {good.min():.3f} median {np.median(good):.3f}; "
          f"unanswerable median {np.median(bad):.3f} max {bad.max():.3f}")
    print("threshold  abstains on unanswerable  wrongly abstains on answerable")
    for t in sorted({round(x, 3) for x in np.linspace(min(bad.min(), good.min()), max(bad.max(), good.max()), 12)}
                    | {ABSTAIN_BELOW}):
        mark = "  <- default" if t == ABSTAIN_BELOW else ""
        print(f"{t:9.3f}  {np.mean(bad < t):24.2f}  {np.mean(good < t):30.2f}{mark}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
