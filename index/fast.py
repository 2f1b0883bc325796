"""Faster CPU encoders for the same model: ONNX Runtime, in fp32 or with int8 weights.

Backends, by name (`BACKENDS`):
  torch      sentence-transformers as is (the reference)
  onnx       the model exported to ONNX, graph-fused by ONNX Runtime; same vectors as torch
  onnx-int8  the fused graph with int8 weights (dynamic quantisation, per output channel) for the
             large matrix products; vectors close to, but not equal to, fp32: a fingerprint of its own

Exported models are built once, offline, next to the model folder in the cache. Passages are tokenised
once, sorted by length and batched, so a batch carries little padding.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from index.embed import Embedder, ModelError, _fingerprint

DEFAULT_BACKEND = "onnx-int8"
MAX_TOKENS = 512


def _export(model, out: Path) -> None:
    """Write the transformer of sentence-transformers `model` as ONNX (token embeddings out)."""
    import torch

    bert = model[0].auto_model.eval()

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    ids = torch.ones((2, 16), dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(Wrapped(), (ids, torch.ones_like(ids)), str(out), dynamo=False, opset_version=17,
                          input_names=["input_ids", "attention_mask"], output_names=["tokens"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                                        "tokens": {0: "batch", 1: "seq"}})


def _fuse(src: Path, dst: Path, model) -> None:
    """ONNX Runtime's transformer fusions (attention, GELU, layer norm) for a BERT encoder."""
    from onnxruntime.transformers import optimizer

    config = model[0].auto_model.config
    fused = optimizer.optimize_model(str(src), model_type="bert", num_heads=config.num_attention_heads,
                                     hidden_size=config.hidden_size, opt_level=1)
    fused.save_model_to_file(str(dst))


def _quantise(src: Path, dst: Path) -> None:
    """int8 weights per output channel for MatMuls; activations quantised per batch at run time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul"])


def onnx_model_file(model, model_dir: Path, variant: str) -> Path:
    """The ONNX file for `variant` ("fp32" or "int8") of the model in `model_dir`, built on first use."""
    folder = Path(model_dir) / "onnx"
    target = folder / f"model-{variant}.onnx"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".onnx-", dir=folder))
    try:
        _export(model, tmp / "raw.onnx")
        _fuse(tmp / "raw.onnx", tmp / "model-fp32.onnx", model)
        if variant == "int8":
            _quantise(tmp / "model-fp32.onnx", tmp / "model-int8.onnx")
        for name in ("model-fp32.onnx", f"model-{variant}.onnx"):
            if not (folder / name).exists():
                os.replace(tmp / name, folder / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def onnx_session(path: Path, threads: int | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def encode_onnx(session, tokenizer, texts: list[str], batch_size: int = 32, max_tokens: int = MAX_TOKENS) -> np.ndarray:
    """Mean-pooled, L2-normalised vectors; texts are batched by token length to cut padding."""
    ids = tokenizer(list(texts), truncation=True, max_length=max_tokens)["input_ids"]
    order = np.argsort([-len(x) for x in ids], kind="stable")
    pad = tokenizer.pad_token_id
    out = np.zeros((len(ids), 0), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        width = max(len(ids[i]) for i in rows)
        batch = np.full((len(rows), width), pad, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for r, i in enumerate(rows):
            batch[r, :len(ids[i])] = ids[i]
            mask[r, :len(ids[i])] = 1
        tokens = session.run(None, {"input_ids": batch, "attention_mask": mask})[0]
        pooled = (tokens * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        if out.shape[1] == 0:
            out = np.zeros((len(ids), pooled.shape[1]), dtype=np.float32)
        out[rows] = pooled
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def onnx_embedder(name: str, variant: str = "int8", threads: int | None = None, batch_size: int = 32) -> Embedder:
    """`name` (a sentence-transformers model) run by ONNX Runtime; `variant` "fp32" or "int8"."""
    from index.embed import sentence_transformer_embedder

    reference = sentence_transformer_embedder(name)  # loads, checks and fingerprints the model
    model = reference.model
    model_dir = Path(model[0].auto_model.name_or_path)
    if not (model_dir / "config.json").exists():
        raise ModelError(f"the onnx backend needs a local model folder, {name!r} has none; "
                         f"use KAMERQA_BACKEND=torch")
    try:
        session = onnx_session(onnx_model_file(model, model_dir, variant), threads)
    except Exception as e:  # export or runtime failure: say how to fall back
        raise ModelError(f"cannot build the ONNX {variant} model for {name!r} ({type(e).__name__}: "
                         f"{str(e)[:200]}); use KAMERQA_BACKEND=torch") from None
    prompts = model.prompts
    tokenizer = model.tokenizer
    max_tokens = min(MAX_TOKENS, model.max_seq_length or MAX_TOKENS)

    def encode(prefix: str):
        return lambda texts: encode_onnx(session, tokenizer, [prefix + t for t in texts], batch_size, max_tokens)

    # fp32 gives torch's vectors (checked in tests/test_perf.py), so it shares torch's fingerprint and cache
    fingerprint = reference.fingerprint if variant == "fp32" else _fingerprint(reference.fingerprint, "onnx", variant)
    emb = Embedder(reference.name, reference.dim, fingerprint,
                   encode(prompts.get("query", "")), encode(prompts.get("passage", "")))
    emb.model = model
    emb.session = session
    return emb
