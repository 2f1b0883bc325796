"""Peak memory of the encoder: resident set after loading the model, and after encoding the default
corpus's N longest passages with a given token budget per batch.

    python bench/encode_memory.py --texts 64 --batch-tokens 2048
    python bench/encode_memory.py --texts 64 --batch-tokens 16384   # ~32 texts of 512 tokens a batch
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus.chunk import chunk_letter  # noqa: E402
from corpus.readers import default_corpus, read_corpus  # noqa: E402
from index import fast  # noqa: E402
from index.build import passage_document  # noqa: E402
from index.embed import load_embedder  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--texts", type=int, default=64)
    p.add_argument("--batch-tokens", type=int, default=fast.BATCH_TOKENS)
    args = p.parse_args(argv)
    letters = read_corpus(default_corpus()).letters
    documents = sorted((passage_document(p, letter, True) for letter in letters for p in chunk_letter(letter)), key=len)
    embedder = load_embedder()
    loaded = peak_mb()
    session, tokenizer = embedder.session, embedder.model.tokenizer
    texts = ["passage: " + t for t in documents[-args.texts:]]
    started = time.perf_counter()
    fast.encode_onnx(session, tokenizer, texts, batch_tokens=args.batch_tokens)
    print(json.dumps({"backend": embedder.backend, "texts": len(texts), "batch_tokens": args.batch_tokens,
                      "peak_mb_model_loaded": round(loaded), "peak_mb_after_encoding": round(peak_mb()),
                      "seconds": round(time.perf_counter() - started, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
