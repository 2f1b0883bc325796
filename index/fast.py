"""Faster CPU encoders for the same model: ONNX Runtime and OpenVINO fp32, and OpenVINO int8.

Backends, by name (`BACKENDS`), chosen with `load_embedder(name, backend=...)` or $KAMERQA_BACKEND:
  torch          sentence-transformers as is (the reference)
  onnx           the model exported to ONNX, graph-fused, run by ONNX Runtime (fastest for single
                 queries on an idle machine, slower than torch for batches)
  openvino       the same export compiled by OpenVINO (the default; about torch's speed on an idle
                 machine, 2-3x on a busy one, see docs/PERFORMANCE.md)
  openvino-int8  the OpenVINO model quantised to int8 by NNCF post-training quantisation, calibrated
                 on passages of the default corpus (int8 kernels: AVX-512 VNNI / AMX)
The fp32 backends give the same vectors (cosine >= 0.9999 to torch, checked in tests/test_perf.py), so
they share the model's fingerprint and embedding cache. int8 moves vectors a little (cosine ~0.99), so it
has its own fingerprint (the model's + "-ov-int8"): an index built with it is searched with it.

Exported models are built once, offline, next to the model folder in the cache. Texts are tokenised
once, sorted by length and batched, so a batch carries little padding.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from index.embed import Embedder, ModelError

DEFAULT_BACKEND = "openvino"


def default_backend() -> str:
    """openvino when it is installed, else torch."""
    import importlib.util

    return DEFAULT_BACKEND if importlib.util.find_spec("openvino") and importlib.util.find_spec("onnx") else "torch"
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
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's advice about shapes; the export is checked in tests
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


CALIBRATION_TEXTS = 300  # NNCF's default subset size


def calibration_texts(model, n: int = CALIBRATION_TEXTS) -> list[str]:
    """`n` texts of the default corpus as the encoder sees them: 2/3 passages (with the index's header
    line) and 1/3 sentences, spread evenly over the letters, with the document prompt."""
    from corpus.chunk import chunk_letter
    from corpus.readers import default_corpus, read_corpus
    from index.build import passage_document, sentence_texts

    letters = read_corpus(default_corpus()).letters
    pairs = [(p, letter) for letter in letters for p in chunk_letter(letter)]
    documents = [passage_document(p, letter, header=True) for p, letter in pairs]
    sentences = [t for p, _ in pairs for _, t in sentence_texts(p, 4)]
    if not documents:
        raise ModelError("the default corpus gave no passages to calibrate the int8 model on")
    pick = lambda items, k: [items[i] for i in np.linspace(0, len(items) - 1, min(k, len(items))).astype(int)]  # noqa: E731
    prompt = next((model.prompts[k] for k in ("document", "passage", "corpus") if model.prompts.get(k)), "")
    return [prompt + t for t in pick(documents, n - n // 3) + pick(sentences, n // 3)]


def _quantize(fp32_xml: Path, out: Path, model) -> None:
    """NNCF post-training int8 quantisation of the OpenVINO model `fp32_xml`, written to `out`."""
    os.environ.setdefault("NNCF_CI", "1")  # NNCF sends usage telemetry unless this is set
    import nncf
    import openvino as ov

    ids = model.tokenizer(calibration_texts(model), truncation=True, max_length=MAX_TOKENS)["input_ids"]
    data = [{"input_ids": np.array([x], dtype=np.int64), "attention_mask": np.ones((1, len(x)), dtype=np.int64)}
            for x in ids]
    quantized = nncf.quantize(ov.Core().read_model(str(fp32_xml)), nncf.Dataset(data), subset_size=len(data),
                              model_type=nncf.ModelType.TRANSFORMER)
    ov.save_model(quantized, str(out), compress_to_fp16=False)


def exported_model_file(model, model_dir: Path, backend: str) -> Path:
    """The model in `model_dir` exported for `backend` ("onnx", "openvino" or "openvino-int8"), built
    on first use into `model_dir/backend/` (a temporary folder first, so a crash leaves nothing half-built)."""
    folder = Path(model_dir) / backend
    target = folder / ("model-fp32.onnx" if backend == "onnx" else "model.xml")
    if target.exists():
        return target
    fp32 = exported_model_file(model, model_dir, "openvino") if backend == "openvino-int8" else None
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=folder))
    try:
        if backend == "openvino-int8":
            _quantize(fp32, tmp / "model.xml", model)
            os.replace(tmp / "model.bin", folder / "model.bin")
            os.replace(tmp / "model.xml", target)
            return target
        _export(model, tmp / "raw.onnx")
        if backend == "openvino":
            import openvino as ov

            ov.save_model(ov.Core().read_model(str(tmp / "raw.onnx")), str(tmp / "model.xml"), compress_to_fp16=False)
            os.replace(tmp / "model.bin", folder / "model.bin")
            os.replace(tmp / "model.xml", target)
        else:
            _fuse(tmp / "raw.onnx", target, model)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


class OpenVINOSession:
    """An OpenVINO compiled model that runs a list of batches, one per stream at a time.

    The THROUGHPUT hint gives one stream per core with one thread each (steady on a busy machine), so a
    single request would use one core: `run_all` keeps a request in flight on every stream."""

    def __init__(self, path: Path, threads: int | None = None):
        import openvino as ov

        config = {"PERFORMANCE_HINT": "THROUGHPUT"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        compiled = ov.Core().compile_model(str(path), "CPU", config)
        self.streams = compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
        self.precision = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()  # e.g. "bf16"
        self.queue = ov.AsyncInferQueue(compiled, self.streams)

    def run_all(self, feeds: list[dict], reduce) -> list[np.ndarray]:
        """`reduce(output, feed)` of every feed, in order (reduced as each finishes, to keep memory small)."""
        out: list = [None] * len(feeds)

        def done(request, i):
            out[i] = reduce(request.get_output_tensor(0).data, feeds[i])

        self.queue.set_callback(done)
        for i, feed in enumerate(feeds):
            self.queue.start_async(feed, i)
        self.queue.wait_all()
        return out


def onnx_session(path: Path, threads: int | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # kind to a busy machine
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


# Tokens in one batch (batch x longest text). OpenVINO's working memory grows with batch x tokens^2
# (attention). Encoding the default corpus's 64 longest passages (~512 tokens; /tmp/mem.py, see
# docs/PERFORMANCE.md "Build memory"), peak RSS with the model loaded (1.5 GB): 32 a batch 4.3 GB,
# 4096 tokens 2.3 GB, 2048 tokens 2.0 GB, at the same speed within the noise of the shared machine.
# Short texts (sentences) still go 32 at a time.
BATCH_TOKENS = 2048


def _token_batches(lengths: list[int], order: np.ndarray, size: int, budget: int) -> list[np.ndarray]:
    """`order` (longest first) cut into batches of at most `size` texts and `budget` padded tokens."""
    groups, start = [], 0
    while start < len(order):
        count = max(1, min(size, budget // max(1, lengths[start])))
        groups.append(order[start:start + count])
        start += count
    return groups


def encode_onnx(session, tokenizer, texts: list[str], batch_size: int = 32, max_tokens: int = MAX_TOKENS,
                batch_tokens: int = BATCH_TOKENS) -> np.ndarray:
    """Mean-pooled, L2-normalised vectors; texts are batched by token length to cut padding (at most
    `batch_tokens` tokens a batch), in at least as many batches as the session runs at once."""
    ids = tokenizer(list(texts), truncation=True, max_length=max_tokens)["input_ids"]
    order = np.argsort([-len(x) for x in ids], kind="stable")
    size = max(1, min(batch_size, -(-len(order) // getattr(session, "streams", 1))))
    groups = _token_batches([len(ids[i]) for i in order], order, size, batch_tokens)
    feeds = []
    for rows in groups:
        width = max(len(ids[i]) for i in rows)
        batch = np.full((len(rows), width), tokenizer.pad_token_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for r, i in enumerate(rows):
            batch[r, :len(ids[i])] = ids[i]
            mask[r, :len(ids[i])] = 1
        feeds.append({"input_ids": batch, "attention_mask": mask})

    def mean_pool(tokens: np.ndarray, feed: dict) -> np.ndarray:
        mask = feed["attention_mask"][..., None]
        return (tokens * mask).sum(1) / mask.sum(1)

    if hasattr(session, "run_all"):
        pooled = session.run_all(feeds, mean_pool)
    else:
        pooled = [mean_pool(session.run(None, feed)[0], feed) for feed in feeds]
    out = np.zeros((len(ids), pooled[0].shape[1] if pooled else 0), dtype=np.float32)
    for rows, vectors in zip(groups, pooled):
        out[rows] = vectors
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def exported_embedder(name: str, backend: str = DEFAULT_BACKEND, threads: int | None = None,
                      batch_size: int = 32) -> Embedder:
    """`name` (a sentence-transformers model) run by `backend`: "onnx", "openvino" or "openvino-int8"."""
    from index.embed import sentence_transformer_embedder

    reference = sentence_transformer_embedder(name, threads)  # loads, checks and fingerprints the model
    model = reference.model
    model_dir = Path(model[0].auto_model.name_or_path)
    if not (model_dir / "config.json").exists():
        raise ModelError(f"the {backend} backend needs a local model folder, {name!r} has none; "
                         f"use KAMERQA_BACKEND=torch")
    try:
        file = exported_model_file(model, model_dir, backend)
        session = onnx_session(file, threads) if backend == "onnx" else OpenVINOSession(file, threads)
    except Exception as e:  # export or runtime failure: say how to fall back
        raise ModelError(f"cannot build the {backend} model for {name!r} ({type(e).__name__}: "
                         f"{str(e)[:200]}); use KAMERQA_BACKEND=torch") from None
    model[0].auto_model.to("meta")  # the exported model runs from here on: free the torch weights (~470 MB)
    # the prompts sentence-transformers' encode_query / encode_document would use
    query_prompt = model.prompts.get("query", "")
    document_prompt = next((model.prompts[k] for k in ("document", "passage", "corpus") if k in model.prompts), "")
    max_tokens = min(MAX_TOKENS, model.max_seq_length or MAX_TOKENS)

    def encoder(prefix: str):
        return lambda texts: encode_onnx(session, model.tokenizer, [prefix + t for t in texts], batch_size, max_tokens)

    fingerprint = reference.fingerprint + ("-ov-int8" if backend == "openvino-int8" else "")  # int8 moves vectors
    emb = Embedder(reference.name, reference.dim, fingerprint, encoder(query_prompt), encoder(document_prompt))
    emb.model, emb.session, emb.backend = model, session, backend
    return emb


BACKENDS = ("torch", "onnx", "openvino", "openvino-int8")
