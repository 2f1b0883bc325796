"""Resident memory of the encoder over many batches, as a build runs them: texts of a corpus sorted by
length and encoded 256 at a time (index.build.embed_with_cache's batches), the resident set printed as it goes.

    python bench/encode_memory.py --texts 64 --batch-tokens 2048             # the 64 longest passages
    python bench/encode_memory.py --texts 1100 --attention-tokens 0          # every default passage, no width^2 bound
    python bench/encode_memory.py --corpus large --kind sentences --texts 20000 --pad-to 1
    python bench/encode_memory.py --corpus large --kind sentences --texts 20000 --pad-to 16 --runtime-cache 0

--pad-to rounds batch widths up (fewer distinct input shapes), --runtime-cache sets OpenVINO's
CPU_RUNTIME_CACHE_CAPACITY (kernels kept per shape), --trim calls glibc's malloc_trim after each batch.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus.chunk import chunk_letter  # noqa: E402
from corpus.readers import corpus_paths, read_corpus  # noqa: E402
from index import fast  # noqa: E402
from index.documents import passage_document, sentence_texts  # noqa: E402
from index.embed import _load_sentence_transformer, model_info  # noqa: E402

BATCH = 256  # texts per call, as index.build.embed_with_cache


def rss_mb() -> float:
    """The resident set now (VmRSS), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def corpus_texts(corpus: str, kind: str, count: int) -> list[str]:
    """`count` texts: the longest passages of the corpus, or its first sentences (letters in order)."""
    letters = read_corpus(corpus_paths([corpus])).letters
    if kind == "passages":
        documents = [passage_document(p, letter, True) for letter in letters for p in chunk_letter(letter)]
        return sorted(documents, key=len)[-count:]
    texts: list[str] = []
    for letter in letters:
        texts.extend(t for p in chunk_letter(letter) for _, t in sentence_texts(p, 4))
        if len(texts) >= count:
            break
    return texts[:count]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default="default", help="a corpus name or path (default: default)")
    p.add_argument("--kind", choices=("passages", "sentences"), default="passages")
    p.add_argument("--texts", type=int, default=64)
    p.add_argument("--batch-tokens", type=int, default=fast.BATCH_TOKENS)
    p.add_argument("--attention-tokens", type=int, default=fast.ATTENTION_TOKENS, help="batch x width^2 bound; 0: none")
    p.add_argument("--pad-to", type=int, default=fast.PAD_TO)
    p.add_argument("--runtime-cache", type=int, default=fast.RUNTIME_CACHE)
    p.add_argument("--trim", action="store_true", help="malloc_trim(0) after every batch")
    p.add_argument("--every", type=int, default=20, help="print the resident set every N batches")
    p.add_argument("--passes", type=int, default=1, help="encode the texts this many times (memory kept per shape)")
    args = p.parse_args(argv)
    info = model_info("multilingual-e5-small")
    texts = sorted((info.document_prompt + t for t in corpus_texts(args.corpus, args.kind, args.texts)), key=len)
    start_mb = rss_mb()
    encoder = fast.Encoder(Path(info.path), "openvino", lambda: _load_sentence_transformer(info.name),
                           batch_tokens=args.batch_tokens, pad_to=args.pad_to, runtime_cache=args.runtime_cache,
                           attention_tokens=args.attention_tokens or None)
    loaded = rss_mb()
    trim = ctypes.CDLL("libc.so.6").malloc_trim if args.trim else None
    shapes: set = set()
    started, timeline = time.perf_counter(), []
    starts, done = [i for _ in range(args.passes) for i in range(0, len(texts), BATCH)], 0
    for n, i in enumerate(starts, 1):
        part = texts[i:i + BATCH]
        done += len(part)
        ids = encoder.tokenizer.ids(part, info.max_tokens)
        shapes.update(f["input_ids"].shape for f in fast._feeds(ids, encoder.tokenizer.pad_id, encoder.batch_size,
                                                                 encoder.session.streams, args.batch_tokens,
                                                                 args.pad_to, args.attention_tokens or None)[1])
        encoder.encode(part, info.max_tokens)
        if trim:
            trim(0)
        if n % args.every == 0 or n == len(starts):
            timeline.append((done, len(shapes), round(rss_mb())))
            print(f"{done:>7} texts  {len(shapes):>4} shapes  rss {rss_mb():6.0f} MB", file=sys.stderr, flush=True)
    print(json.dumps({"corpus": args.corpus, "kind": args.kind, "texts": len(texts), "batch_tokens": args.batch_tokens,
                      "attention_tokens": args.attention_tokens,
                      "pad_to": args.pad_to, "runtime_cache": args.runtime_cache, "trim": args.trim, "passes": args.passes,
                      "shapes": len(shapes), "rss_mb_before_model": round(start_mb), "rss_mb_model_loaded": round(loaded),
                      "rss_mb_end": round(rss_mb()), "peak_mb": round(peak_mb()),
                      "timeline_texts_shapes_rss": timeline, "seconds": round(time.perf_counter() - started, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
