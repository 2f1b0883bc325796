"""The model exported for the faster CPU encoders (index/fast.py), built once, offline, into the model
folder (`onnx/`, `openvino/`, `openvino-int8/`) from the torch sentence-transformers model: ONNX for ONNX
Runtime, OpenVINO fp32, and OpenVINO int8 (NNCF post-training quantisation, calibrated on passages of the
default corpus). A temporary folder first, so a crash leaves nothing half-built.
"""
from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np

from corpus.chunk import chunk_letter
from corpus.readers import default_corpus, read_corpus
from index.documents import passage_document, sentence_texts

MAX_TOKENS = 512
EXPORT_FOLDERS = {"onnx", "openvino", "openvino-int8"}  # built inside the model folder


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
    letters = read_corpus(default_corpus()).letters
    pairs = [(p, letter) for letter in letters for p in chunk_letter(letter)]
    documents = [passage_document(p, letter, header=True) for p, letter in pairs]
    sentences = [t for p, _ in pairs for _, t in sentence_texts(p, 4)]
    if not documents:
        raise ValueError("the default corpus gave no passages to calibrate the int8 model on")
    pick = lambda items, k: [items[i] for i in np.linspace(0, len(items) - 1, min(k, len(items))).astype(int)]  # noqa: E731
    prompt = next((model.prompts[k] for k in ("document", "passage", "corpus") if model.prompts.get(k)), "")
    return [prompt + t for t in pick(documents, n - n // 3) + pick(sentences, n // 3)]


def openvino():
    """The `openvino` module, imported without its usage telemetry: importing it sends an event to Google
    Analytics from a forked process (openvino/tools/ovc/__init__.py) unless CI=true or the user ran
    `opt_in_out --opt_out`. kamerqa sends nothing anywhere, so CI is set while the import runs."""
    with _OPENVINO_IMPORT:
        if "openvino" not in sys.modules:
            before = os.environ.get("CI")
            os.environ["CI"] = "true"
            try:
                importlib.import_module("openvino")
            finally:
                if before is None:
                    os.environ.pop("CI", None)
                else:
                    os.environ["CI"] = before
    return sys.modules["openvino"]


_OPENVINO_IMPORT = threading.Lock()


def _quantize(fp32_xml: Path, out: Path, model) -> None:
    """NNCF post-training int8 quantisation of the OpenVINO model `fp32_xml`, written to `out`."""
    os.environ.setdefault("NNCF_CI", "1")  # NNCF sends usage telemetry unless this is set
    ov = openvino()
    import nncf

    ids = model.tokenizer(calibration_texts(model), truncation=True, max_length=MAX_TOKENS)["input_ids"]
    data = [{"input_ids": np.array([x], dtype=np.int64), "attention_mask": np.ones((1, len(x)), dtype=np.int64)}
            for x in ids]
    quantized = nncf.quantize(ov.Core().read_model(str(fp32_xml)), nncf.Dataset(data), subset_size=len(data),
                              model_type=nncf.ModelType.TRANSFORMER)
    ov.save_model(quantized, str(out), compress_to_fp16=False)


def exported_model_file(load_model, model_dir: Path, backend: str) -> Path:
    """The model in `model_dir` exported for `backend` ("onnx", "openvino" or "openvino-int8"), built
    on first use into `model_dir/backend/` from `load_model()` (the sentence-transformers model; a
    temporary folder first, so a crash leaves nothing half-built)."""
    folder = Path(model_dir) / backend
    target = folder / ("model-fp32.onnx" if backend == "onnx" else "model.xml")
    if target.exists():
        return target
    model = load_model()
    fp32 = exported_model_file(lambda: model, model_dir, "openvino") if backend == "openvino-int8" else None
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=folder))
    try:
        if backend == "openvino-int8":
            _quantize(fp32, tmp / "model.xml", model)
        elif backend == "openvino":
            ov = openvino()
            _export(model, tmp / "raw.onnx")
            ov.save_model(ov.Core().read_model(str(tmp / "raw.onnx")), str(tmp / "model.xml"), compress_to_fp16=False)
        else:
            _export(model, tmp / "raw.onnx")
            _fuse(tmp / "raw.onnx", target, model)
            return target
        os.replace(tmp / "model.bin", folder / "model.bin")
        os.replace(tmp / "model.xml", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
