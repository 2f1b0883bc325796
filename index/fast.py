"""Faster CPU encoders for a sentence-transformers model: ONNX Runtime and OpenVINO fp32, and OpenVINO
int8 (NNCF post-training quantisation, calibrated on passages of the default corpus).

The fp32 exports give the same vectors as torch (cosine >= 0.9999, tests/test_perf.py). An export is
built once, offline (index/export.py), into the model folder (`onnx/`, `openvino/`, `openvino-int8/`), from the torch
model; after that an `Encoder` needs only the export and `tokenizer.json`: no torch. OpenVINO keeps its
compiled blob in `openvino*/cache/`, so a later start compiles nothing. Texts are tokenised once,
sorted by length and batched, so a batch carries little padding.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer as Fast

from index.export import MAX_TOKENS, exported_model_file, openvino
from index.pieces import open_table

# Texts of at most this many characters in all go through a tokenizer of their own pieces (~2 ms for a
# question, ~15 ms for 8 passages: tests/test_model.py) rather than the whole one (~1.2 s to build, once).
# By hand: an encode of this size costs less than building the whole tokenizer.
FEW_CHARACTERS = 4_000


class OpenVINOSession:
    """An OpenVINO compiled model (compiled once, then loaded from its cache folder).

    Batches: the THROUGHPUT hint gives one stream per core with one thread each (steady on a busy
    machine), and `run_all` keeps a request in flight on every stream, one caller at a time. Single
    questions: `run_one` uses a request of the calling thread's own, so threads never share one."""

    def __init__(self, path: Path, threads: int | None = None, runtime_cache: int | None = None):
        ov = openvino()
        core = ov.Core()
        core.set_property({"CACHE_DIR": str(Path(path).parent / "cache")})
        config = {"PERFORMANCE_HINT": "THROUGHPUT"}
        if runtime_cache is not None:  # kernels kept per input shape (OpenVINO's default: 5000 shapes)
            config["CPU_RUNTIME_CACHE_CAPACITY"] = str(runtime_cache)
        if threads:  # a share of the machine: other encoder processes (Ray actors) run beside this one,
            config["INFERENCE_NUM_THREADS"] = threads  # and pinned threads would all sit on the first cores
            config["ENABLE_CPU_PINNING"] = False
        self.compiled = core.compile_model(str(path), "CPU", config)
        self.streams = self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
        self.precision = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()  # e.g. "bf16"
        self.queue = ov.AsyncInferQueue(self.compiled, self.streams)
        self.lock = threading.Lock()
        self.local = threading.local()

    def run_all(self, feeds: list[dict], reduce) -> list[np.ndarray]:
        """`reduce(output, feed)` of every feed, in order (reduced as each finishes, to keep memory small)."""
        if len(feeds) == 1:
            return [reduce(self.run_one(feeds[0]), feeds[0])]
        out: list = [None] * len(feeds)

        def done(request, i):
            out[i] = reduce(request.get_output_tensor(0).data, feeds[i])

        with self.lock:
            self.queue.set_callback(done)
            for i, feed in enumerate(feeds):
                self.queue.start_async(feed, i)
            self.queue.wait_all()
        return out

    def run_one(self, feed: dict) -> np.ndarray:
        if not hasattr(self.local, "request"):
            self.local.request = self.compiled.create_infer_request()
        return self.local.request.infer(feed)[0].copy()


def onnx_session(path: Path, threads: int | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # kind to a busy machine
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class Tokenizer:
    """The model folder's tokenizer.json through the `tokenizers` library (what the fast Hugging Face
    tokenizer runs), truncating to `max_tokens`; no transformers or torch import. A few short texts (a
    question) go through a tokenizer of just their own pieces (index/pieces.py: the same ids, without the
    ~1.2 s the whole vocabulary takes to build) until the whole one is needed for a larger batch."""

    def __init__(self, model_dir: Path):
        self.model_dir = Path(model_dir)
        config = json.loads((self.model_dir / "tokenizer_config.json").read_text())
        self.pad_token = config.get("pad_token") or "<pad>"
        self.max_model_tokens = int(config.get("model_max_length") or MAX_TOKENS)
        self.pieces = open_table(self.model_dir)  # None: not a tokenizer it can stand in for
        self._fast, self._loading = None, threading.Lock()
        pad = self.pieces.id_of(self.pad_token) if self.pieces is not None else self.fast.token_to_id(self.pad_token)
        self.pad_id = pad or 0

    @property
    def fast(self):
        """The whole tokenizer, built on first use."""
        with self._loading:
            if self._fast is None:
                fast = Fast.from_file(str(self.model_dir / "tokenizer.json"))
                fast.no_padding()
                self._fast = fast
            return self._fast

    def ids(self, texts: list[str], max_tokens: int) -> list[list[int]]:
        limit = min(max_tokens, self.max_model_tokens)
        if self.pieces is not None and self._fast is None and sum(map(len, texts)) <= FEW_CHARACTERS:
            return self.pieces.ids(texts, limit)
        fast = self.fast
        fast.enable_truncation(limit)
        return [e.ids for e in fast.encode_batch(list(texts))]


# Tokens in one batch (batch x longest text), and batch x width^2 (attention). OpenVINO keeps the working
# memory of every input shape it has run, so each long shape seen stays resident. bench/encode_memory.py
# (docs/PERFORMANCE.md "Build memory"): the default corpus's 64 longest passages, 32 a batch: 4.3 GB;
# 2048 tokens: 2.0 GB. Its 1,025 passages with the width^2 bound and widths padded to 16: 1.4 GB instead
# of 1.9 GB, at the same speed within the noise. Short texts (sentences) still go 32 at a time.
BATCH_TOKENS = 2048
ATTENTION_TOKENS = 2048 * 128  # widths up to 128 keep the token bound; a 512-token text goes alone
PAD_TO = 16  # batch widths rounded up to a multiple of this: fewer distinct shapes kept
RUNTIME_CACHE = None  # OpenVINO's CPU_RUNTIME_CACHE_CAPACITY (shapes kept); None: its default


def _token_batches(lengths: list[int], order: np.ndarray, size: int, budget: int,
                   attention: int | None = None) -> list[np.ndarray]:
    """`order` (longest first) cut into batches of at most `size` texts, `budget` padded tokens and
    `attention` (batch x width^2, when given)."""
    groups, start = [], 0
    while start < len(order):
        width = max(1, lengths[start])
        count = max(1, min(size, budget // width, attention // width ** 2 if attention else size))
        groups.append(order[start:start + count])
        start += count
    return groups


def _feeds(ids: list[list[int]], pad_id: int, batch_size: int, streams: int,
           batch_tokens: int = BATCH_TOKENS, pad_to: int = 1,
           attention_tokens: int | None = ATTENTION_TOKENS) -> tuple[list, list[dict]]:
    """Length-sorted batches (at least as many as the session runs at once, at most `batch_tokens`
    padded tokens each, widths rounded up to a multiple of `pad_to`): (rows of each, feeds)."""
    order = np.argsort([-len(x) for x in ids], kind="stable")
    size = max(1, min(batch_size, -(-len(order) // streams)))
    groups = _token_batches([len(ids[i]) for i in order], order, size, batch_tokens, attention_tokens)
    feeds = []
    for rows in groups:
        width = -(-max(len(ids[i]) for i in rows) // pad_to) * pad_to
        batch = np.full((len(rows), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for r, i in enumerate(rows):
            batch[r, :len(ids[i])] = ids[i]
            mask[r, :len(ids[i])] = 1
        feeds.append({"input_ids": batch, "attention_mask": mask})
    return groups, feeds


def _mean_pool(tokens: np.ndarray, feed: dict) -> np.ndarray:
    mask = feed["attention_mask"][..., None]
    return (tokens * mask).sum(1) / mask.sum(1)


class Encoder:
    """Mean-pooled, L2-normalised vectors from an exported model: the sentence-transformers pipeline
    (prompt, tokenise, transformer, mean pooling, normalise) without torch. Safe to share between threads."""

    def __init__(self, model_dir: Path, backend: str, load_model, threads: int | None = None, batch_size: int = 32,
                 batch_tokens: int = BATCH_TOKENS, pad_to: int = PAD_TO, runtime_cache: int | None = RUNTIME_CACHE,
                 attention_tokens: int | None = ATTENTION_TOKENS, lazy: bool = False, failed=None):
        pooling = json.loads((Path(model_dir) / "1_Pooling" / "config.json").read_text())
        if pooling.get("pooling_mode", "mean") != "mean" and not pooling.get("pooling_mode_mean_tokens"):
            raise ValueError(f"the model pools by {pooling.get('pooling_mode')!r}; the exported encoders do mean pooling")
        file = exported_model_file(load_model, model_dir, backend)
        self._open = lambda: onnx_session(file, threads) if backend == "onnx" else OpenVINOSession(file, threads, runtime_cache)
        self._session, self._opening = None, threading.Lock()
        self._failed = failed  # exception -> the error to raise when the model cannot be compiled
        self.tokenizer = Tokenizer(model_dir)
        self.batch_size, self.batch_tokens, self.pad_to = batch_size, batch_tokens, pad_to
        self.attention_tokens = attention_tokens
        if not lazy:  # lazy: compiled on the first encode (a build whose texts are all cached never needs it)
            self.session

    @property
    def session(self):
        with self._opening:
            if self._session is None:
                try:
                    self._session = self._open()
                except Exception as e:
                    if self._failed is None:
                        raise
                    raise self._failed(e) from None
            return self._session

    def release(self) -> None:
        """Drop the compiled model and its working memory; the next encode compiles it again (from its cache)."""
        with self._opening:
            self._session = None

    def encode(self, texts: list[str], max_tokens: int = MAX_TOKENS) -> np.ndarray:
        ids = self.tokenizer.ids(texts, max_tokens)
        if not ids:
            return np.zeros((0, 0), dtype=np.float32)
        session = self.session
        groups, feeds = _feeds(ids, self.tokenizer.pad_id, self.batch_size, getattr(session, "streams", 1),
                               self.batch_tokens, self.pad_to, self.attention_tokens)
        if isinstance(session, OpenVINOSession):
            pooled = session.run_all(feeds, _mean_pool)
        else:
            pooled = [_mean_pool(session.run(None, feed)[0], feed) for feed in feeds]
        out = np.zeros((len(ids), pooled[0].shape[1]), dtype=np.float32)
        for rows, vectors in zip(groups, pooled):
            out[rows] = vectors
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def queries(self, prompt: str, max_tokens: int):
        return lambda texts: self.encode([prompt + t for t in texts], max_tokens)

    passages = queries  # the same pipeline; only the prompt differs
