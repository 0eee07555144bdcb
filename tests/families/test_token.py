"""NER family: labels on the first sub-token of each eojeol only; decoding perfect logits returns gold tags."""

from __future__ import annotations

import numpy as np

from kobench.families.base import EncodeSettings
from kobench.families.token_classification import FAMILY, IGNORE
from kobench.tasks import get_task

SPEC = get_task("naver-ner")


def _tokenizer(tiny_models):  # noqa: ANN001, ANN202
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_models("bert"))


def test_labels_only_on_first_subtoken(tiny_models) -> None:  # noqa: ANN001
    tokenizer = _tokenizer(tiny_models)
    rows = [{"id": "1", "tokens": ["김철수씨는", "서울", "특별시에"], "tags": ["B-PER", "B-LOC", "I-LOC"]}]
    features = FAMILY.encode(SPEC, rows, tokenizer, EncodeSettings(max_seq_len=64), train=True)
    labels, starts = features["labels"][0], features["word_starts"][0]
    names = SPEC.label_names
    assert [names[x] for x in labels if x != IGNORE] == ["B-PER", "B-LOC", "I-LOC"]
    assert len(features["input_ids"][0]) > 5  # some eojeols split into several sub-tokens
    assert [i for i, w in enumerate(starts) if w >= 0] == [i for i, x in enumerate(labels) if x != IGNORE]


def test_decode_of_perfect_logits_returns_gold_and_truncated_words_are_o(tiny_models) -> None:  # noqa: ANN001
    tokenizer = _tokenizer(tiny_models)
    rows = [{"id": "1", "tokens": ["김철수씨는", "어제", "서울", "특별시에"], "tags": ["B-PER", "B-DAT", "B-LOC", "I-LOC"]}]
    settings = EncodeSettings(max_seq_len=4)
    features = FAMILY.encode(SPEC, rows, tokenizer, settings, train=False)
    labels = features["labels"][0]
    logits = np.zeros((len(labels), len(SPEC.labels)))
    for position, label in enumerate(labels):
        if label != IGNORE:
            logits[position, label] = 10.0
    predicted = FAMILY.decode(SPEC, rows, features, {"logits": [logits]}, settings)["1"]
    kept = sum(1 for w in features["word_starts"][0] if w >= 0)
    assert kept < 4 and predicted == rows[0]["tags"][:kept] + ["O"] * (4 - kept)
