"""Batches of features: length-grouped sampling and dynamic padding (the two biggest speed levers)."""

from __future__ import annotations

import itertools
import random

import numpy as np
import torch

from kobench.families.base import Features, LabelColumn

MEGABATCH = 50  # batches per length-sorted pool: mixes lengths across steps yet keeps padding low


def make_batches(
    lengths: list[int], batch_size: int, *, shuffle: bool, group_by_length: bool, rng: random.Random | None = None
) -> list[list[int]]:
    """Split feature indices into batches.

    Training (``shuffle``): a seeded permutation; with ``group_by_length`` it is cut into pools of
    ``MEGABATCH`` batches, each pool sorted by length, and the batch order shuffled again. Evaluation:
    sorted by length, longest first, so padding is minimal and order is restored afterwards.

    >>> make_batches([5, 1, 3, 2], 2, shuffle=False, group_by_length=True)
    [[0, 2], [3, 1]]
    """
    indices = list(range(len(lengths)))
    if not shuffle:
        indices.sort(key=lambda i: -lengths[i])
        return [indices[i : i + batch_size] for i in range(0, len(indices), batch_size)]
    rng = rng or random.Random(0)
    rng.shuffle(indices)
    if group_by_length:
        pool = batch_size * MEGABATCH
        indices = [
            i
            for start in range(0, len(indices), pool)
            for i in sorted(indices[start : start + pool], key=lambda i: -lengths[i])
        ]
    batches = [indices[i : i + batch_size] for i in range(0, len(indices), batch_size)]
    if group_by_length:
        rng.shuffle(batches)
    return batches


class Collator:
    """Pads a batch of features to its longest member (rounded up to ``multiple_of``) or to ``max_length``."""

    def __init__(
        self,
        pad_id: int,
        label_columns: tuple[LabelColumn, ...],
        *,
        max_length: int | None = None,
        multiple_of: int | None = None,
    ) -> None:
        self.pad_id, self.label_columns = pad_id, label_columns
        self.max_length, self.multiple_of = max_length, multiple_of

    def width(self, longest: int) -> int:
        """The padded sequence length for a batch whose longest feature has ``longest`` tokens."""
        if self.max_length is not None:
            return self.max_length
        if self.multiple_of:
            return -(-longest // self.multiple_of) * self.multiple_of
        return longest

    def __call__(self, features: Features, batch: list[int], *, labels: bool) -> dict[str, torch.Tensor]:
        """Tensors for ``model(**inputs)``; label columns only when ``labels``."""
        ids = [features["input_ids"][i] for i in batch]
        lengths = _lengths(ids)
        width = self.width(int(lengths.max()))
        out = {"input_ids": _pad(ids, width, self.pad_id, lengths)}
        # the attention mask is exactly the positions _pad filled: one comparison, no per-row lists
        out["attention_mask"] = torch.from_numpy((np.arange(width) < lengths[:, None]).astype(np.int64))
        if "token_type_ids" in features:
            out["token_type_ids"] = _pad([features["token_type_ids"][i] for i in batch], width, 0)
        if labels:
            for column in self.label_columns:
                out[column.name] = _label_tensor(column, [features[column.name][i] for i in batch], width)
        return out


def _lengths(rows: list) -> np.ndarray:
    return np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))


def _pad(rows: list, width: int, value: int, lengths: np.ndarray | None = None) -> torch.Tensor:
    """``rows`` (lists of ints) left-aligned in a ``(len(rows), width)`` long tensor filled with ``value``.

    Built in numpy with one flat copy and one masked assignment (about 10x faster than a tensor per row).

    >>> _pad([[1, 2, 3], [4]], 4, 0).tolist()
    [[1, 2, 3, 0], [4, 0, 0, 0]]
    """
    lengths = _lengths(rows) if lengths is None else lengths
    if len(rows) and int(lengths.max()) > width:
        raise ValueError(f"a row of {int(lengths.max())} values does not fit a padded width of {width}")
    flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=int(lengths.sum()))
    out = np.full((len(rows), width), value, dtype=np.int64)
    out[np.arange(width) < lengths[:, None]] = flat  # row-major order: each row's values in its first cells
    return torch.from_numpy(out)


def _label_tensor(column: LabelColumn, values: list, width: int) -> torch.Tensor:
    """One label column of a batch: per-token labels padded with the column's ignored value, else one per row."""
    if column.pad is not None:
        return _pad(values, width, column.pad)
    return torch.tensor(values, dtype=torch.float32 if column.dtype == "float" else torch.long)
