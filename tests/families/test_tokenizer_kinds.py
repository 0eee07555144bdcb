"""The five tokenizer kinds of the published rows on real text: KoBERT's fast tokenizer against SentencePiece,
first-sub-token NER alignment of pre-split eojeols, and KorQuAD answers recovered exactly from token spans.

Tokenizers are the hub fixtures' (same files and kinds as the published repositories) trained on mirror text;
HanBERT's is the vendor layout with the stand-in analyser, its vocabulary trained on the same text."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kobench.config import ModelParams
from kobench.data.readers import read_rows
from kobench.engine.models import ModelRef, load_tokenizer
from kobench.engine.spm_vocab_tokenizer import read_model
from kobench.families.base import EncodeSettings
from kobench.families.qa_spans import decode_spans
from kobench.families.qa_windows import _answer_tokens, _gold_chars, encode_eval
from kobench.families.token_classification import for_split_words
from kobench.tasks import get_task
from kobench.tools.hanbert_fixture import DIRECTORY_NAME, compiler, write_vendor_directory
from kobench.tools.hub_fixtures import KOBERT_SPM, write_hub_fixtures

REPRESENTATIVE = {  # one published repository per tokenizer kind
    "sentencepiece-vocab": "monologg/kobert",
    "sentencepiece-unigram": "FacebookAI/xlm-roberta-base",
    "wordpiece": "monologg/koelectra-small-v3-discriminator",
    "byte-level-bpe": "jason9693/soongsil-bert-small",
}
KINDS = (*REPRESENTATIVE, "hanbert-moran")  # HanBERT: the vendor layout with the stand-in analyser


def _nsmc(mirror: Path, start: int, count: int) -> list[str]:
    with open(mirror / "nsmc" / "ratings_train.txt", encoding="utf-8") as handle:
        lines = itertools.islice(handle, 1 + start, 1 + start + count)
        return [line.rstrip("\n").split("\t")[1] for line in lines]


@pytest.fixture(scope="module")
def real(mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Rows of the real files, and a tokenizer of every kind trained on real text (NSMC, NER, KorQuAD)."""
    korquad = read_rows(get_task("korquad"), mirror / "korquad" / "KorQuAD_v1.0_dev.json", "test")
    ner = read_rows(get_task("naver-ner"), mirror / "naver-ner" / "koelectra" / "test.tsv", "test")
    corpus = _nsmc(mirror, 0, 3000) + list(dict.fromkeys(r["context"] for r in korquad))
    corpus += [" ".join(r["tokens"]) for r in ner[:3000]]
    rows = {kind: ModelParams(id=repo, tokenizer="sentencepiece-vocab" if kind == "sentencepiece-vocab" else "auto")
            for kind, repo in REPRESENTATIVE.items()}
    folders = write_hub_fixtures(tmp_path_factory.mktemp("kinds"), rows, corpus, vocab_size=2000)
    tokenizers = {
        kind: load_tokenizer(ModelRef(kind, row.model_copy(update={"id": str(folders[kind]), "local_only": True})))
        for kind, row in rows.items()
    }
    if compiler() is not None:
        vendor = write_vendor_directory(tmp_path_factory.mktemp("kinds-hanbert") / DIRECTORY_NAME, corpus, vocab_size=2000)
        row = ModelParams(id=str(vendor), local_only=True, tokenizer="hanbert-moran", native_tokenizer=True)
        tokenizers["hanbert-moran"] = load_tokenizer(ModelRef("hanbert", row))
    return {"korquad": korquad, "ner": ner, "tokenizers": tokenizers, "folders": folders, "mirror": mirror}


def _stand_in(folder: Path) -> Any:
    """The repository's own ``tokenization_kobert.py`` module (the fixture's stand-in), imported by path."""
    spec = importlib.util.spec_from_file_location("fixture_tokenization_kobert", folder / "tokenization_kobert.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tokenizer(real: dict[str, Any], kind: str) -> Any:
    if kind not in real["tokenizers"]:
        pytest.skip("no C compiler (cc or gcc) to build HanBERT's stand-in analyser")
    return real["tokenizers"][kind]


@pytest.mark.mirror
def test_kobert_fast_tokenizer_equals_sentencepiece_and_vocab_txt(real: dict[str, Any]) -> None:
    import sentencepiece

    folder, fast = real["folders"]["sentencepiece-vocab"], real["tokenizers"]["sentencepiece-vocab"]
    spm = sentencepiece.SentencePieceProcessor(model_file=str(folder / KOBERT_SPM))
    scores = {p.piece: p.score for p in read_model(folder / KOBERT_SPM).pieces}
    vocab = {token: i for i, token in enumerate((folder / "vocab.txt").read_text(encoding="utf-8").splitlines())}
    repo = _stand_in(folder)
    sentences = _nsmc(real["mirror"], 100_000, 1000)  # not in the tokenizer's training text
    same, ties, comma_rule = 0, 0, 0
    for text in sentences:
        pieces = spm.encode(repo.preprocess(text), out_type=str)
        expected = [2] + [vocab.get(p, 0) for p in pieces] + [3]
        ours = fast(text)["input_ids"]
        if ours == expected:
            same += 1
        else:  # only a segmentation of the same total score, broken the other way, is allowed
            tokens = fast.convert_ids_to_tokens(ours[1:-1])
            assert sum(scores[t] for t in tokens) == pytest.approx(sum(scores[p] for p in pieces), abs=1e-4), text
            ties += 1
        comma_rule += repo.kobert_pieces(spm, text) != pieces
    print(f"KoBERT fast tokenizer on {len(sentences)} NSMC sentences: {same} identical ids, {ties} equal-score ties; "
          f"the repository's <digit>, rule changes {comma_rule}")
    assert same >= 0.99 * len(sentences)
    pair = fast("한국어 모델을", "공유합니다.")
    assert pair["token_type_ids"] == [0] * pair["input_ids"].index(3) + [0] + [1] * (
        len(pair["input_ids"]) - pair["input_ids"].index(3) - 1
    )


@pytest.mark.mirror
@pytest.mark.parametrize("kind", KINDS)
def test_pre_split_eojeols_encode_as_in_running_text(real: dict[str, Any], kind: str) -> None:
    tokenizer = _tokenizer(real, kind)
    words_tokenizer = for_split_words(tokenizer)
    prefix = " " if kind == "byte-level-bpe" else ""  # every eojeol, the first too, as it follows a space
    differ = 0
    for row in real["ner"]:
        split = words_tokenizer(row["tokens"], is_split_into_words=True)
        differ += split["input_ids"] != tokenizer(prefix + " ".join(row["tokens"]))["input_ids"]
        starts = [i for i, w in enumerate(split.word_ids()) if w is not None and (i == 0 or split.word_ids()[i - 1] != w)]
        assert len(starts) == len(row["tokens"])  # every eojeol has a first sub-token that carries its label
    print(f"{kind}: {differ} of {len(real['ner'])} naver-ner test sentences encode differently split than running")
    assert differ == 0


@pytest.mark.mirror
@pytest.mark.parametrize("kind", KINDS)
def test_korquad_gold_spans_decode_to_the_answer_text(real: dict[str, Any], kind: str) -> None:
    rows, tokenizer = real["korquad"], _tokenizer(real, kind)
    settings = EncodeSettings(max_seq_len=384, doc_stride=128, max_query_len=64)
    evals = encode_eval(rows, tokenizer, settings)
    starts, ends = [], []
    for ids, index, offsets in zip(evals["input_ids"], evals["example_index"], evals["offset_mapping"]):
        # the labels training uses (encode_train's function), from the same windows: one encoding, not two
        sequence_ids = [None if offset is None else 1 for offset in offsets]
        start, end = _answer_tokens([o or (0, 0) for o in offsets], sequence_ids, _gold_chars(rows[index]))
        starts.append(np.eye(1, len(ids), start, dtype=np.float32)[0] * 10 if start else np.zeros(len(ids), np.float32))
        ends.append(np.eye(1, len(ids), end, dtype=np.float32)[0] * 10 if end else np.zeros(len(ids), np.float32))
    predictions = decode_spans(rows, evals, starts, ends, settings.n_best, settings.max_answer_len)
    missed = [r for r in rows if predictions[r["id"]] != r["answers"]["text"][0].strip()]
    # A miss is allowed only where no token boundary falls at the answer's edge: the span of the tokens that
    # hold the answer then holds a few more characters (a particle: 3명 -> 3명의), or the answer is longer
    # than max_answer_len tokens and cannot be predicted at all.
    too_long = [r for r in missed if r["answers"]["text"][0] not in predictions[r["id"]]]
    for row in too_long:
        answer = row["answers"]["text"][0]
        assert len(tokenizer(answer, add_special_tokens=False)["input_ids"]) > settings.max_answer_len - 5, answer
    print(f"{kind}: {len(rows) - len(missed)} of {len(rows)} KorQuAD dev answers decode exactly; "
          f"{len(missed) - len(too_long)} end inside a token, {len(too_long)} longer than max_answer_len")
