"""The whole-archive plan of docs/SCALE.md: measured per-document figures, then arithmetic.

    python bench/archive_plan.py --rate TEXTS_PER_CORE_SECOND [--sample 5] [--words-per-page 600]

Measured here: words, passages and sentences (those the index embeds) per document of a sample of
../shared/corpus/sgd/kamerstukken.jsonl (Staten-Generaal Digitaal OCR, 1814-1995: every `--sample`-th
document) and of the default corpus, chunked exactly as the index chunks. Given (flags, printed back):
the archive's size (3 million documents since 1995, 2.5 million OCR pages 1814-1995), words per OCR page
(an assumption; no page boundaries in the sample), and the embedding rate per core (from
bench/ray_build.py on this machine). Everything after that is arithmetic, printed with its inputs.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus.chunk import chunk_letter  # noqa: E402
from corpus.readers import default_corpus, read_corpus  # noqa: E402
from index.documents import sentence_texts  # noqa: E402

DIM = 384  # multilingual-e5-small
BYTES = {"float32": 4 * DIM, "sq8": DIM, "pq48": 48}  # per vector; SQ8 is what choose_faiss_index builds


def measure(letters) -> dict:
    words = [len(letter.text.split()) for letter in letters]
    passages = [chunk_letter(letter) for letter in letters]
    sentences = sum(len(sentence_texts(p, 4)) for ps in passages for p in ps)
    n_passages = sum(map(len, passages))
    return {"documents": len(letters), "words_mean": round(statistics.mean(words)),
            "words_median": round(statistics.median(words)), "passages": n_passages, "sentences": sentences,
            "passages_per_1000_words": round(1000 * n_passages / sum(words), 3),
            "sentences_per_passage": round(sentences / n_passages, 2)}


def plan(sgd: dict, args) -> dict:
    ocr_words = args.ocr_pages * args.words_per_page
    modern_words = args.documents * sgd["words_mean"]  # stand-in: a modern document as long as an SGD one
    passages = (ocr_words + modern_words) * sgd["passages_per_1000_words"] / 1000
    sentences = passages * sgd["sentences_per_passage"]
    texts = passages + sentences
    core_hours = texts / args.rate / 3600
    out = {"passages": int(passages), "sentences": int(sentences), "texts_to_embed": int(texts),
           "core_hours": round(core_hours), "passage_vector_gb": {k: round(passages * b / 1e9, 1) for k, b in BYTES.items()},
           "sentence_vector_gb": {k: round(sentences * b / 1e9, 1) for k, b in BYTES.items()},
           "hours_on": {f"{n} nodes x {m} cores": round(core_hours / (n * m), 1) for n, m in args.nodes}}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, required=True, help="texts embedded per core-second (bench/ray_build.py)")
    parser.add_argument("--sample", type=int, default=5, help="every N-th document of kamerstukken.jsonl")
    parser.add_argument("--documents", type=float, default=3e6, help="documents since 1995")
    parser.add_argument("--ocr-pages", type=float, default=2.5e6, help="OCR pages 1814-1995")
    parser.add_argument("--words-per-page", type=float, default=600, help="an assumption, not measured")
    parser.add_argument("--nodes", type=lambda s: tuple(map(int, s.split("x"))), nargs="+",
                        default=[(1, 2), (8, 32), (32, 32)], help="NODESxCORES, e.g. 8x32")
    args = parser.parse_args(argv)
    root = default_corpus()[0].parent
    sgd = measure(read_corpus([root / "kamerstukken.jsonl"]).letters[::args.sample])
    print(json.dumps({"measured": "sgd/kamerstukken.jsonl sample", **sgd}))
    print(json.dumps({"measured": "default corpus", **measure(read_corpus(default_corpus()).letters)}))
    print(json.dumps({"given": {k: getattr(args, k) for k in ("documents", "ocr_pages", "words_per_page", "rate")}}))
    print(json.dumps({"arithmetic": plan(sgd, args)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
