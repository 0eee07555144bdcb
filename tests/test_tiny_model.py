"""Tests for kobench.tools.tiny_model: tiny offline models load back with the Auto classes and handle Hangul."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from transformers import (
    AutoConfig,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
)

from kobench.tools.tiny_model import ARCHS, build_tiny_model

CORPUS = [
    "오늘 날씨가 정말 좋네요.",
    "나는 아침마다 학교에 갑니다.",
    "이 영화는 생각보다 재미있었다!",
    "서울은 한국의 수도입니다.",
    "배가 고파서 김치찌개를 먹었어요.",
    "주말에 친구들과 등산을 했다.",
    "그 책은 너무 지루해서 끝까지 못 읽었다.",
    "내일은 비가 온다고 합니다.",
    "커피 한 잔 주세요.",
    "버스가 늦게 와서 지각했어요.",
    "한국어 자연어 처리는 어렵지만 재미있다.",
    "이 식당의 음식은 정말 맛있어요.",
    "세종대왕은 한글을 만들었다.",
    "부산에는 아름다운 바다가 있습니다.",
    "회의는 오후 세 시에 시작합니다.",
    "동생이 새 자전거를 샀다.",
    "이 노래를 들으면 기분이 좋아진다.",
    "도서관에서 조용히 공부했어요.",
    "영화관에 사람이 너무 많았다.",
    "저는 대학교에서 컴퓨터를 전공했습니다.",
    "고양이가 창가에서 잠을 잔다.",
    "지하철이 버스보다 빠릅니다.",
    "어제 산 신발이 너무 작아요.",
    "제주도는 여름에 관광객이 많다.",
    "이 문제의 정답은 무엇입니까?",
    "엄마가 만든 된장찌개가 제일 맛있다.",
    "겨울에는 눈이 많이 내립니다.",
    "축구 경기가 연장전까지 갔다.",
    "새로운 스마트폰이 출시되었다.",
    "우리는 공원에서 산책을 했어요.",
]
QUESTION = "한국의 수도는 어디입니까?"
CONTEXT = "서울은 한국의 수도입니다. 부산에는 아름다운 바다가 있습니다."
SIZES = {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64, "max_position_embeddings": 64}


@pytest.fixture(scope="module", autouse=True)
def _hermetic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # No hub access here: loading must work from the local folder alone.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("HF_HOME", str(tmp_path_factory.mktemp("hf_home")))
        yield


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    # One build per arch, shared by the tests below: building is the slow part.
    root = tmp_path_factory.mktemp("tiny")
    return {arch: build_tiny_model(root / arch, CORPUS, arch=arch, **SIZES) for arch in ARCHS}


@pytest.mark.parametrize("arch", ARCHS)
def test_loads_with_auto_heads_and_runs_pair(built: dict[str, Path], arch: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(built[arch])
    assert tokenizer.is_fast
    assert tokenizer.model_max_length == SIZES["max_position_embeddings"]
    batch = tokenizer([QUESTION], [CONTEXT], return_tensors="pt")
    heads = [
        (AutoModelForSequenceClassification, {"num_labels": 3}, "logits", (1, 3)),
        (AutoModelForTokenClassification, {"num_labels": 3}, "logits", (1, batch["input_ids"].shape[1], 3)),
        (AutoModelForQuestionAnswering, {"num_labels": 2}, "start_logits", (1, batch["input_ids"].shape[1])),
    ]
    for auto_cls, kwargs, field, shape in heads:
        model = auto_cls.from_pretrained(built[arch], dtype=torch.float32, **kwargs).eval()
        assert model.config.model_type == arch
        with torch.no_grad():
            output = model(**batch)
        assert tuple(getattr(output, field).shape) == shape
        assert torch.isfinite(getattr(output, field)).all()


@pytest.mark.parametrize("arch", ARCHS)
def test_hangul_is_not_unk(built: dict[str, Path], arch: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(built[arch])
    ids = tokenizer(CORPUS[0], add_special_tokens=False)["input_ids"]
    assert ids and tokenizer.unk_token_id not in ids
    # Cased, accent-preserving normalisation: Hangul survives the round trip unchanged.
    assert tokenizer.decode(ids) == "오늘 날씨가 정말 좋네요."


@pytest.mark.parametrize("arch", ARCHS)
def test_special_tokens_and_token_types(built: dict[str, Path], arch: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(built[arch])
    encoded = tokenizer("서울은 수도", "부산은 바다", return_token_type_ids=True)
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    if arch == "roberta":
        first_eos = tokens.index("</s>")
        assert tokens[0] == "<s>" and tokens[first_eos + 1] == "</s>" and tokens.count("</s>") == 3
        assert set(encoded["token_type_ids"]) == {0}
        assert "token_type_ids" not in tokenizer("서울은 수도")
    else:
        assert tokens[0] == "[CLS]" and tokens.count("[SEP]") == 2
        first_sep = tokens.index("[SEP]")
        assert encoded["token_type_ids"] == [0] * (first_sep + 1) + [1] * (len(tokens) - first_sep - 1)
        assert "token_type_ids" in tokenizer("서울은 수도")


def test_qa_features_with_offsets_and_overflow(built: dict[str, Path]) -> None:
    tokenizer = AutoTokenizer.from_pretrained(built["bert"])
    long_context = " ".join(CORPUS)
    features = tokenizer(
        [QUESTION],
        [long_context],
        truncation="only_second",
        max_length=32,
        stride=8,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length",
    )
    assert len(features["input_ids"]) > 1
    assert set(features["overflow_to_sample_mapping"]) == {0}
    for index, offsets in enumerate(features["offset_mapping"]):
        for (start, end), sequence_id in zip(offsets, features.sequence_ids(index), strict=True):
            if sequence_id == 1:
                assert long_context[start:end].strip()
    word_ids = features.word_ids(0)
    assert word_ids[0] is None and any(w is not None for w in word_ids)


def test_small_vocab_uses_subwords_and_only_real_specials(tmp_path: Path) -> None:
    # 300 is just above what this corpus needs for its characters alone (their word-initial and ## forms).
    out = build_tiny_model(tmp_path / "small", CORPUS, vocab_size=300, **SIZES)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert len(tokenizer) == 300
    assert sorted(tokenizer.all_special_tokens) == ["[CLS]", "[MASK]", "[PAD]", "[SEP]", "[UNK]"]
    text = "세종대왕은 한글을 만들었다."
    tokens = tokenizer.tokenize(text)
    assert any(token.startswith("##") for token in tokens) and "[UNK]" not in tokens
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text


def test_roberta_config(built: dict[str, Path]) -> None:
    config = AutoConfig.from_pretrained(built["roberta"])
    tokenizer = AutoTokenizer.from_pretrained(built["roberta"])
    assert config.type_vocab_size == 1
    assert config.max_position_embeddings == SIZES["max_position_embeddings"] + 2
    assert config.pad_token_id == tokenizer.pad_token_id == 1
    assert config.vocab_size == len(tokenizer)


@pytest.mark.parametrize("arch", ARCHS)
def test_full_length_input_fits_positions(built: dict[str, Path], arch: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(built[arch])
    batch = tokenizer(" ".join(CORPUS), truncation=True, padding="max_length", return_tensors="pt")
    assert batch["input_ids"].shape == (1, SIZES["max_position_embeddings"])
    model = AutoModelForTokenClassification.from_pretrained(built[arch], num_labels=2).eval()
    with torch.no_grad():
        assert model(**batch).logits.shape == (1, SIZES["max_position_embeddings"], 2)


def test_electra_config(built: dict[str, Path]) -> None:
    config = AutoConfig.from_pretrained(built["electra"])
    assert config.embedding_size == config.hidden_size == SIZES["hidden_size"]
    assert config.pad_token_id == 0


def test_deterministic_weights(tmp_path: Path) -> None:
    first = build_tiny_model(tmp_path / "a", CORPUS, seed=3, **SIZES)
    second = build_tiny_model(tmp_path / "b", iter(CORPUS), seed=3, **SIZES)
    other = build_tiny_model(tmp_path / "c", CORPUS, seed=4, **SIZES)
    assert first == tmp_path / "a"
    weights = (first / "model.safetensors").read_bytes()
    assert weights == (second / "model.safetensors").read_bytes()
    assert weights != (other / "model.safetensors").read_bytes()
    assert (first / "tokenizer.json").read_bytes() == (second / "tokenizer.json").read_bytes()


def test_seeding_leaves_global_rng_alone(tmp_path: Path) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_model(tmp_path / "m", CORPUS, **SIZES)
    assert torch.equal(torch.rand(3), expected)


def test_bad_arch_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bert, electra, roberta"):
        build_tiny_model(tmp_path / "x", CORPUS, arch="gpt2")
    assert not (tmp_path / "x").exists()
