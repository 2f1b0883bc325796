"""index/pieces.py: a question's own-pieces tokenizer gives the ids of the whole tokenizer (fast: a small
Unigram tokenizer trained here on the test letters; the real XLM-R one is checked in test_model.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from index import fast, pieces
from index.embed import _folder_key

LETTERS = Path(__file__).parent / "letters"
SPECIAL = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
ODD_TEXTS = ["query: Wat wil Nederland op het gebied van secundaire migratie?", "", "query: ",
             "query: foo<mask>bar <s> x</s>", "query: ÅÉ ﬁ ① ½ 😀 ấ Financiën",
             "  dubbele  spaties\tand\ttabs\n", "<unk><pad>", "query: dijken dijkversterking Oosterscheldekering 1983-06-21 €12,5 mln.",
             "passage: " + "zeer lange zin over de dijken en het water " * 30]


def _train(folder: Path, vocab_size: int = 400, model=None) -> Path:
    """A tokenizer.json shaped like XLM-R's (NFKC instead of its precompiled map) in `folder`."""
    texts = [p.read_text(encoding="utf-8") for p in sorted(LETTERS.rglob("*")) if p.is_file()]
    tok = Tokenizer(model or models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace()])
    trainer = (trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=SPECIAL, unk_token="<unk>")
               if model is None else trainers.WordLevelTrainer(special_tokens=SPECIAL))
    tok.train_from_iterator(texts, trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
                                                       special_tokens=[("<s>", 0), ("</s>", 2)])
    tok.decoder = decoders.Metaspace()
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"pad_token": "<pad>", "model_max_length": 512}))
    return folder


def _whole(folder: Path, texts: list[str], max_tokens: int = 512) -> list[list[int]]:
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_tokens)
    return [e.ids for e in tok.encode_batch(texts)]


def _texts() -> list[str]:
    letters = [p.read_text(encoding="utf-8") for p in sorted(LETTERS.rglob("*")) if p.is_file()]
    return ODD_TEXTS + [line for text in letters for line in text.splitlines() if line.strip()][:200]


def test_own_pieces_give_the_whole_tokenizers_ids(tmp_path):
    folder = _train(tmp_path / "model")
    table = pieces.open_table(folder)
    assert table is not None
    texts = _texts()
    assert [table.ids([t], 512)[0] for t in texts] == _whole(folder, texts)
    assert table.ids(texts[:9], 8) == _whole(folder, texts[:9], 8)  # truncated, several at once
    small, keep = table.tokenizer([ODD_TEXTS[0]])
    assert len(keep) < small.get_vocab_size() + 1 and len(keep) < 100  # a few pieces, not the vocabulary


def test_the_table_follows_a_changed_tokenizer_json(tmp_path):
    folder = _train(tmp_path / "model", vocab_size=400)
    assert pieces.open_table(folder) is not None
    _train(folder, vocab_size=250)
    texts = _texts()[:40]
    assert [pieces.open_table(folder).ids([t], 512)[0] for t in texts] == _whole(folder, texts)


def test_no_table_for_another_kind_of_tokenizer(tmp_path):
    folder = _train(tmp_path / "model", model=models.WordLevel(unk_token="<unk>"))
    assert pieces.open_table(folder) is None
    tok = fast.Tokenizer(folder)  # the whole tokenizer then
    assert tok.ids(["de dijken"], 512) == _whole(folder, ["de dijken"])


def test_the_encoder_tokenizer_builds_the_whole_one_only_for_large_batches(tmp_path):
    folder = _train(tmp_path / "model")
    tok = fast.Tokenizer(folder)
    assert tok.pad_id == 1
    question = ["query: Wie onderhoudt de dijken?"]
    assert tok.ids(question, 512) == _whole(folder, question) and tok._fast is None
    many = _texts() * 2
    assert sum(map(len, many)) > fast.FEW_CHARACTERS
    assert tok.ids(many, 512) == _whole(folder, many) and tok._fast is not None


def test_the_table_does_not_change_the_models_folder_key(tmp_path):
    folder = _train(tmp_path / "model")
    (folder / "modules.json").write_text("[]")
    before = _folder_key(folder)
    assert pieces.open_table(folder) is not None and (folder / pieces.FOLDER).is_dir()
    assert _folder_key(folder) == before


@pytest.mark.parametrize("damage", ["table.json", "hashes.npy"])
def test_a_damaged_table_is_built_again_or_left_alone(tmp_path, damage):
    folder = _train(tmp_path / "model")
    pieces.open_table(folder)
    (folder / pieces.FOLDER / damage).write_text("not what it was")
    table = pieces.open_table(folder)
    texts = _texts()[:20]
    if table is not None:  # rebuilt (a stale table.json); a damaged array: no table, the whole tokenizer
        assert [table.ids([t], 512)[0] for t in texts] == _whole(folder, texts)
    assert fast.Tokenizer(folder).ids(texts[:3], 512) == _whole(folder, texts[:3])
