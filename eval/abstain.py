"""How often kamerqa abstains: on questions the corpus cannot answer (it should) and on the development
questions (it should not), per question language, for a range of thresholds on the confidence that
`qa.answer.compose_answer` uses (the best top-3 hit's best-sentence cosine to the question).

    python eval/abstain.py --index DIR [--answerable FILE] [--unanswerable FILE] [--retriever hybrid]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from qa import hints
from qa.answer import ABSTAIN_BELOW, MAX_CITED
from qa.search import open_index, search

HERE = Path(__file__).parent


def confidences(index, path: Path, retriever: str) -> list[tuple[str, float]]:
    """(language, confidence) for each question in a JSON-lines file."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    out = []
    for row in rows:
        hits = search(index, row["question"], k=MAX_CITED, retriever=retriever)
        out.append((hints.language(row["question"]), max(h.confidence for h in hits)))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path, default=None)
    ap.add_argument("--answerable", type=Path, default=HERE.parent.parent / "shared/eval/dev_questions.jsonl")
    ap.add_argument("--unanswerable", type=Path, default=HERE / "unanswerable.jsonl")
    ap.add_argument("--retriever", default="hybrid")
    args = ap.parse_args(argv)
    index = open_index(args.index)
    good, bad = confidences(index, args.answerable, args.retriever), confidences(index, args.unanswerable, args.retriever)
    for language in ("nl", "en"):
        g = np.array([c for lang, c in good if lang == language])
        b = np.array([c for lang, c in bad if lang == language])
        if not g.size or not b.size:
            continue
        print(f"[{language}] {len(g)} answerable (lowest confidence {g.min():.3f}), "
              f"{len(b)} unanswerable (highest {b.max():.3f})")
        print("threshold  abstains on unanswerable  wrongly abstains on answerable")
        for t in sorted({round(x, 3) for x in np.arange(0.79, 0.851, 0.005)} | {ABSTAIN_BELOW[language]}):
            mark = "  <- default" if t == ABSTAIN_BELOW[language] else ""
            print(f"{t:9.3f}  {np.mean(b < t):24.2f}  {np.mean(g < t):30.2f}{mark}")
    default = [c < ABSTAIN_BELOW[lang] for lang, c in bad], [c < ABSTAIN_BELOW[lang] for lang, c in good]
    print(f"default thresholds {ABSTAIN_BELOW}: abstains on {np.mean(default[0]):.0%} of the unanswerable "
          f"questions and wrongly on {np.mean(default[1]):.0%} of the answerable ones")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
