"""How the LLM answer checks (`qa.llm.check_sentence`) treat sentences written by hand in the way a model
would answer: faithful paraphrases and translations of a passage must pass; the same sentence citing
another letter's passage, and the sentence with an invented number, must fail. No real LLM can run here,
so this is the stand-in: it measures the checks with the real embedding model on the default index.

    python eval/llm_checks.py [--index DIR] [--claims eval/llm_claims.jsonl]

Each claim line: {"doc_id", "anchor" (a substring of the passage it paraphrases), "question", "claim"}.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

from corpus.models import Hit
from qa import hints
from qa.llm import COSINE_MIN, FUZZ_MIN, check_sentence, embedding_similarity
from qa.search import open_index, search

HERE = Path(__file__).parent


def gold_hit(index, doc_id: str, anchor: str) -> Hit:
    letter = index.letters[doc_id]
    at = letter.text.find(anchor)
    if at < 0:
        raise ValueError(f"anchor {anchor!r} is not in letter {doc_id}")
    passage = next(p for p in index.passages if p.letter_id == doc_id and p.start <= at < p.end)
    return Hit(passage, 1.0, letter)


def invent_number(claim: str) -> str | None:
    """The claim with its first number changed (34 -> 41), or None when it has none."""
    m = re.search(r"\d+", claim)
    if not m:
        return None
    return claim[:m.start()] + str(int(m.group()) + 7) + claim[m.end():]


def measure(index, claims: list[dict]) -> list[dict]:
    similarity = embedding_similarity(index)
    rows = []
    for c in claims:
        gold = gold_hit(index, c["doc_id"], c["anchor"])
        others = [h for h in search(index, c["question"], k=10) if h.letter.id != c["doc_id"]][:4]
        hits = [gold] + others
        faithful = check_sentence(f"{c['claim']} [1]", c["question"], hits, similarity)
        wrong = check_sentence(f"{c['claim']} [2]", c["question"], hits, similarity)
        invented = invent_number(c["claim"])
        number = check_sentence(f"{invented} [1]", c["question"], hits, similarity) if invented else None
        rows.append({"lang": hints.language(c["question"]), "claim": c["claim"], "faithful": faithful,
                     "wrong": wrong, "number": number})
    return rows


def report(rows: list[dict]) -> None:
    for lang in ("nl", "en"):
        part = [r for r in rows if r["lang"] == lang]
        numbered = [r for r in part if r["number"] is not None]
        print(f"{lang}: {len(part)} claims; faithful shown {sum(r['faithful'].supported for r in part)}/{len(part)}; "
              f"wrong citation caught {sum(not r['wrong'].supported for r in part)}/{len(part)}; "
              f"invented number caught {sum(not r['number'].supported for r in numbered)}/{len(numbered)}")
    for kind in ("faithful", "wrong"):
        for measure_name in ("fuzz", "cosine"):
            values = [r[kind].closeness.get(measure_name) for r in rows if measure_name in r[kind].closeness]
            print(f"{kind:>8} {measure_name:>6}: median {statistics.median(values):.3f}, "
                  f"min {min(values):.3f}, max {max(values):.3f}")
    print(f"thresholds: fuzz {FUZZ_MIN} or cosine {COSINE_MIN}; sweep of the cosine threshold (fuzz kept):")
    for cosine in (0.82, 0.84, 0.85, 0.86, 0.87, 0.88, 0.90):
        def close(check):
            return check.closeness.get("fuzz", 0) >= FUZZ_MIN or check.closeness.get("cosine", -1) >= cosine
        print(f"  cosine {cosine:.2f}: faithful close {sum(close(r['faithful']) for r in rows)}/{len(rows)}, "
              f"wrong citation close {sum(close(r['wrong']) for r in rows)}/{len(rows)}")
    for r in rows:
        if not r["faithful"].supported:
            print(f"  faithful dropped ({r['lang']}): {r['claim']!r}: {'; '.join(r['faithful'].problems)}")
        if r["wrong"].supported:
            print(f"  wrong citation passed ({r['lang']}): {r['claim']!r}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path, default=None)
    ap.add_argument("--claims", type=Path, default=HERE / "llm_claims.jsonl")
    args = ap.parse_args(argv)
    index = open_index(args.index)
    claims = [json.loads(line) for line in args.claims.read_text(encoding="utf-8").splitlines() if line.strip()]
    report(measure(index, claims))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
