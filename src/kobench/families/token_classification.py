"""Token classification family: naver-ner, labels on the first sub-token of each eojeol, seqeval entity F1."""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

import numpy as np
import pyarrow as pa

from kobench.errors import InputError, KobenchError
from kobench.families.base import EncodeSettings, Features, LabelColumn, Origin, Outputs, Row, TaskFamily, token_type_column
from kobench.metrics.ner import score_entities, sentence_entity_counts
from kobench.metrics.unit_stats import EntityCounts, UnitStats
from kobench.tasks.spec import TaskSpec

IGNORE = -100  # positions the loss skips: special tokens and every sub-token after an eojeol's first


def word_starts(word_ids: list[int | None]) -> list[int | None]:
    """For each token, the index of the word it starts, or None (special token or continuation).

    >>> word_starts([None, 0, 0, 1, None])
    [None, 0, None, 1, None]
    """
    starts, previous = [], None
    for word in word_ids:
        starts.append(word if word is not None and word != previous else None)
        previous = word
    return starts


def _prefix_space_on(node: Any) -> bool:
    """Turn ``add_prefix_space`` on in every byte-level step of a serialised pipeline; True if any was off."""
    if isinstance(node, list):
        return any([_prefix_space_on(item) for item in node])
    if not isinstance(node, dict):
        return False
    changed = any([_prefix_space_on(node.get(k)) for k in ("pretokenizers", "processors")])
    if node.get("add_prefix_space") is False and node.get("type") in ("ByteLevel", "RobertaProcessing"):
        node["add_prefix_space"] = True
        changed = True
    return changed


def for_split_words(tokenizer: Any) -> Any:
    """A tokenizer that encodes each pre-split eojeol as it is encoded after a space in running text.

    Byte-level BPE (RoBERTa, Soongsil-BERT) marks a word that follows a space with ``Ġ``; without
    ``add_prefix_space`` every eojeol is encoded as if it opened the text, so all but the first get pieces
    the model never saw in pre-training. WordPiece and SentencePiece tokenizers are returned unchanged.
    """
    from tokenizers import Tokenizer

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or hasattr(tokenizer, "feature_cache_identity"):  # a Python step (HanBERT): no byte level
        return tokenizer
    state = json.loads(backend.to_str())
    if not (_prefix_space_on(state.get("pre_tokenizer")) | _prefix_space_on(state.get("post_processor"))):
        return tokenizer
    rebuilt = Tokenizer.from_str(json.dumps(state))
    clone = copy.deepcopy(tokenizer)
    clone.backend_tokenizer.pre_tokenizer = rebuilt.pre_tokenizer
    clone.backend_tokenizer.post_processor = rebuilt.post_processor
    clone.add_prefix_space = True
    return clone


def encode_words(rows: list[dict[str, Any]], tokenizer: Any, settings: EncodeSettings) -> tuple[list, list, Any]:
    """Tokenise eojeol lists; return (input_ids, word starts per feature, encoding)."""
    encoding = for_split_words(tokenizer)(
        [r["tokens"] for r in rows], is_split_into_words=True, truncation=True, max_length=settings.max_seq_len
    )
    starts = [word_starts(encoding.word_ids(i)) for i in range(len(rows))]
    return encoding["input_ids"], starts, encoding


@functools.cache
def _tag_names(spec: TaskSpec) -> dict[str, str]:
    """Raw upstream tag -> prepared tag name, built once per task."""
    return {label.raw: label.name for label in spec.labels}


class TokenClassificationFamily(TaskFamily):
    """Entity-level micro F1 (seqeval, lenient mode) on BIO prefix tags; predictions are tag lists."""

    name = "token_classification"
    auto_class = "AutoModelForTokenClassification"
    token_level = True
    schema = pa.schema([("id", pa.string()), ("tokens", pa.list_(pa.string())), ("tags", pa.list_(pa.string()))])
    label_columns = (LabelColumn("labels", "long", pad=IGNORE),)

    def build_row(self, spec: TaskSpec, record: dict[str, Any], origin: Origin) -> Row:
        """Eojeols and their tags, renamed to the prepared tag names."""
        names = _tag_names(spec)
        unknown = [t for t in record["tags"] if t not in names]
        if unknown:
            raise origin.error(f"unknown tag {unknown[0]!r}; allowed: {', '.join(names)}")
        return {"tokens": record["tokens"], "tags": [names[t] for t in record["tags"]]}

    def input_columns(self, spec: TaskSpec) -> tuple[str, ...]:
        """``tokens``: the eojeols of a sentence."""
        return ("tokens",)

    def input_row(self, spec: TaskSpec, record: dict[str, Any], row_id: str) -> Row:
        """The eojeols (a list, or one space-separated string); every tag a placeholder ``O``."""
        tokens = record.get("tokens")
        if isinstance(tokens, str):
            tokens = tokens.split()
        elif isinstance(tokens, list | tuple | np.ndarray) and all(isinstance(t, str) for t in tokens):
            tokens = list(tokens)
        else:
            raise InputError("tokens", tokens, "a list of strings or one space-separated string")
        return {"id": row_id, "tokens": tokens, "tags": ["O"] * len(tokens)}

    def num_labels(self, spec: TaskSpec) -> int:
        """One logit per tag."""
        return len(spec.labels)

    def encode(self, spec: TaskSpec, rows: list, tokenizer: Any, settings: EncodeSettings, *, train: bool) -> Features:
        """Token ids, plus ``labels`` on first sub-tokens and ``word_starts`` for decoding."""
        if not getattr(tokenizer, "is_fast", False):
            raise KobenchError(f"{spec.name} needs a fast tokenizer (word ids); {type(tokenizer).__name__} is slow")
        tag_ids = {name: i for i, name in enumerate(spec.label_names)}
        input_ids, starts, encoding = encode_words(rows, tokenizer, settings)
        labels = [
            [IGNORE if w is None else tag_ids[row["tags"][w]] for w in feature_starts]
            for row, feature_starts in zip(rows, starts)
        ]
        return {
            "input_ids": input_ids,
            **token_type_column(encoding, settings.token_type_ids),
            "labels": labels,
            "word_starts": [[-1 if w is None else w for w in s] for s in starts],
        }

    def decode(self, spec: TaskSpec, rows: list, features: Features, outputs: Outputs, settings: EncodeSettings) -> dict:
        """One tag per eojeol; eojeols cut off by max_seq_len are predicted ``O``."""
        names = spec.label_names
        predictions = {}
        for row, starts, logits in zip(rows, features["word_starts"], outputs["logits"]):
            tags = ["O"] * len(row["tokens"])
            best = np.argmax(logits, axis=-1)
            for position, word in enumerate(starts):
                if word >= 0:
                    tags[word] = names[int(best[position])]
            predictions[row["id"]] = tags
        return predictions

    def score(self, spec: TaskSpec, rows: list, predictions: dict[str, Any]) -> dict[str, Any]:
        """Entity F1 / precision / recall and the per-type report."""
        return score_entities([list(r["tags"]) for r in rows], [predictions[r["id"]] for r in rows])

    def unit_stats(self, spec: TaskSpec, rows: list, predictions: dict[str, Any]) -> UnitStats:
        """A sentence is a unit: its correct, predicted and gold entities."""
        counts = sentence_entity_counts([list(r["tags"]) for r in rows], [predictions[r["id"]] for r in rows])
        return UnitStats(EntityCounts(), "sentence", counts)

    def check_prediction(self, spec: TaskSpec, row: Row, prediction: Any) -> str | None:
        """One tag per eojeol."""
        if len(prediction) != len(row["tokens"]):
            return f"{len(prediction)} tags for {len(row['tokens'])} eojeols"
        return None

    def from_json(self, spec: TaskSpec, value: Any) -> list[str]:
        """A list of known BIO tags."""
        names = set(spec.label_names)
        if not isinstance(value, list) or not all(isinstance(t, str) and t in names for t in value):
            raise ValueError(f"expected a list of tags from {sorted(names)}, got {str(value)[:80]}")
        return value


FAMILY = TokenClassificationFamily()
