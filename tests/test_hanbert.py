"""HanBERT: the stand-in analyser speaks the vendor's protocol; the hanbert-moran tokenizer gives morphemes,
WordPiece pieces, offsets into the original text, eojeol word ids and segments; every failure is one line; a
checkpoint records that it needs the vendor library; and no row, HanBERT or not, trains on a garbage tokenizer."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kobench.config import ModelParams
from kobench.engine.models import ModelRef, check_fit, load_config, load_tokenizer
from kobench.errors import KobenchError
from kobench.metrics.registry import metric
from kobench.tools.hanbert_fixture import VENDOR_EXAMPLE as EXAMPLE

ROOT = Path(__file__).resolve().parents[1]


def _ref(directory: Path, **row: object) -> ModelRef:
    options = {"id": str(directory), "local_only": True, "tokenizer": "hanbert-moran", "native_tokenizer": True, **row}
    return ModelRef("hanbert", ModelParams(**options))


def _copy(source: Path, target: Path, *, drop: tuple[str, ...] = (), write: dict[str, bytes] | None = None) -> Path:
    """A copy of the vendor directory (new files, so the library loads afresh), with files dropped or replaced."""
    shutil.copytree(source, target)
    for name in drop:
        (target / name).unlink()
    for name, content in (write or {}).items():
        (target / name).write_bytes(content)
    return target


def test_standin_speaks_the_vendor_protocol(hanbert_dir: Path) -> None:
    from kobench.engine.moran import open_analyser

    analyser = open_analyser(hanbert_dir)
    assert " ".join(analyser.analyse(EXAMPLE)) == "나 ~~는 걸어가 ~~고 있 ~~는 중 ~~입 ~~니다 ."
    assert analyser.analyse("3명의 (서울)") == ("3", "~명", "~~의", "(", "서울", ")")
    output = ctypes.create_string_buffer(102400)
    assert analyser._lib.Moran4match("나는 나는".encode(), "는".encode(), output, 102400) == b"1:2 4:5"


def test_standin_without_its_dictionary_says_so_and_analyses_nothing(hanbert_dir: Path, tmp_path: Path, capfd) -> None:  # noqa: ANN001
    library = _copy(hanbert_dir, tmp_path / "vendor", drop=("moran.db",)) / "libmoran4dnlp.so"
    lib = ctypes.CDLL(str(library))
    lib.Moran4dnlp.restype = ctypes.c_char_p
    assert lib.MorAn16_open_dbs() == -1
    assert "moran.db: cannot open dictionary" in capfd.readouterr().err
    assert lib.Moran4dnlp(EXAMPLE.encode(), ctypes.create_string_buffer(1024), 1024) == b""


def test_pieces_are_wordpiece_over_the_morphemes_with_offsets_into_the_text(hanbert_dir: Path) -> None:
    tokenizer = load_tokenizer(_ref(hanbert_dir))
    morphemes = list(tokenizer.analyser.analyse(EXAMPLE))
    pair = "그는 서울에서 태어났다."
    encoding = tokenizer(EXAMPLE, pair, return_offsets_mapping=True)
    tokens = tokenizer.convert_ids_to_tokens(encoding["input_ids"])
    first_sep = tokens.index("[SEP]")
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and "[UNK]" not in tokens
    words: list[str] = []  # WordPiece pieces glued back: the analyser's morphemes, marks included
    for token in tokens[1:first_sep]:
        words[-1:] = [words[-1] + token[2:]] if token.startswith("##") else [*words[-1:], token]
    assert words == morphemes
    assert encoding["token_type_ids"] == [0] * (first_sep + 1) + [1] * (len(tokens) - first_sep - 1)
    for token, (start, end) in zip(tokens[1:first_sep], encoding["offset_mapping"][1:first_sep]):
        assert EXAMPLE[start:end] == token.removeprefix("##").lstrip("~")  # the marks carry no characters
    assert tokenizer.decode(encoding["input_ids"][1:first_sep]) == "나는 걸어가고 있는 중입니다 ."
    assert len(tokenizer(EXAMPLE * 200, truncation=True, max_length=512)["input_ids"]) == 512


def test_eojeols_keep_their_word_ids_and_labels_sit_on_first_pieces(hanbert_dir: Path) -> None:
    from kobench.families.base import EncodeSettings
    from kobench.families.token_classification import encode_words

    tokenizer = load_tokenizer(_ref(hanbert_dir))
    rows = [{"tokens": EXAMPLE.split(), "tags": ["O"] * 4}]
    input_ids, starts, encoding = encode_words(rows, tokenizer, EncodeSettings(max_seq_len=64))
    words = [w for w in encoding.word_ids(0) if w is not None]
    assert words == sorted(words) and set(words) == {0, 1, 2, 3} and len(words) > 4  # an eojeol has several pieces
    assert [w for w in starts[0] if w is not None] == [0, 1, 2, 3]  # one labelled first piece per eojeol
    assert input_ids[0] == tokenizer(EXAMPLE)["input_ids"]  # pre-split eojeols encode as the running text


def test_a_korquad_answer_before_a_particle_is_a_whole_token_span(hanbert_dir: Path) -> None:
    from kobench.families.base import EncodeSettings
    from kobench.families.qa_windows import _answer_tokens, _gold_chars, encode_eval

    tokenizer = load_tokenizer(_ref(hanbert_dir))
    context = "그는 어제 서울에서 태어났다. " * 12 + "그는 오늘 부산에서 학교에 간다."
    start = context.index("부산")
    answers = {"text": ["부산"], "answer_start": [start]}
    row = {"id": "q", "question": "그는 어디에서 간다?", "context": context, "answers": answers}
    features = encode_eval([row], tokenizer, EncodeSettings(max_seq_len=48, doc_stride=16, max_query_len=16))
    assert len(features["input_ids"]) > 1  # windows over a long context
    last = features["offset_mapping"][-1]
    span = _answer_tokens([o or (0, 0) for o in last], [None if o is None else 1 for o in last], _gold_chars(row))
    assert span != (0, 0) and context[last[span[0]][0] : last[span[1]][1]] == "부산"  # 부산 ~~에서: no particle inside


@pytest.mark.parametrize("kept_pieces", [100_000, 20])  # 20: the oldest texts' pieces are dropped on the way
def test_a_repeated_paragraph_encodes_as_a_fresh_tokenizer_encodes_it(
    hanbert_dir: Path, kept_pieces: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the pieces of a text are kept for its next pair (KorQuAD's paragraph per question): ids and offsets must not
    # change, and a text that normalises the same from other characters (a control character dropped) is its own
    monkeypatch.setattr("kobench.engine.hanbert_tokenizer._PIECES_KEPT", kept_pieces)
    context = "그는 어제 서울에서 태어났다. 나는 걸어가고 있는 중입니다."
    shifted = context.replace("어제", "\x07어제")  # the same normalised text, offsets one character later
    pairs = [("그는 어디에서 태어났다?", context), ("나는 무엇을 하는 중입니까?", context), ("그는 어디에서?", shifted),
             ("그는 어디에서 태어났다?", context)]
    kept = load_tokenizer(_ref(hanbert_dir))
    for question, paragraph in pairs:
        fresh = load_tokenizer(_ref(hanbert_dir))
        ours, expected = (t(question, paragraph, return_offsets_mapping=True) for t in (kept, fresh))
        assert dict(ours) == dict(expected) and ours.sequence_ids() == expected.sequence_ids()
    for text in ("좋은 영화 [MASK] 좋은 영화", " 좋은 영화"):  # the same characters after a special token and at 0
        fresh = load_tokenizer(_ref(hanbert_dir))
        assert kept(text, return_offsets_mapping=True) == fresh(text, return_offsets_mapping=True), text
    encoding = kept(pairs[2][0], shifted, return_offsets_mapping=True)
    starts = {start for (start, _), sid in zip(encoding["offset_mapping"], encoding.sequence_ids()) if sid == 1}
    assert 4 in starts and 3 not in starts  # 어제 starts after the control character


def test_cached_features_are_keyed_by_the_library_and_its_dictionary(hanbert_dir: Path, tmp_path: Path) -> None:
    from kobench.engine.features import tokenizer_fingerprint

    same = _copy(hanbert_dir, tmp_path / "same")
    dictionary = (hanbert_dir / "moran.db").read_bytes() + b"final \xeb\x8b\xa8\n"  # one more ending
    other = _copy(hanbert_dir, tmp_path / "other", write={"moran.db": dictionary})
    original = tokenizer_fingerprint(load_tokenizer(_ref(hanbert_dir)))
    assert tokenizer_fingerprint(load_tokenizer(_ref(same))) == original
    assert tokenizer_fingerprint(load_tokenizer(_ref(other))) != original


def _failure(ref: ModelRef) -> str:
    with pytest.raises(KobenchError) as info:
        load_tokenizer(ref)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"model '{ref.key}': ")
    return message


def _not_elf() -> bytes:
    return b"this is not a shared object\n"


def _other_machine(library: bytes) -> bytes:
    return library[:18] + b"\xb7\x00" + library[20:]  # ELF e_machine: AArch64


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("library missing", r"libmoran4dnlp.so: not found; the vendor archive HanBert-54kN-torch ships it"),
        ("not a shared object", r"libmoran4dnlp.so: cannot load the vendor analyser: not a shared object \(no ELF"),
        ("wrong architecture", r"libmoran4dnlp.so: cannot load the vendor analyser: built for AArch64, not x86-64$"),
        ("missing symbol", r"libmoran4dnlp.so: no function MorAn16_open_dbs: not the vendor's analyser"),
        ("dictionary missing", r"moran.db: not found; the analyser libmoran4dnlp.so needs its dictionary"),
        ("dictionary damaged", r"the analyser returned nothing for a test sentence: it could not open its dictionary"),
        ("vocabulary missing", r"vocab_54k.txt: not found"),
    ],
)
def test_every_failure_is_one_line(hanbert_dir: Path, tmp_path: Path, case: str, expected: str) -> None:
    library = (hanbert_dir / "libmoran4dnlp.so").read_bytes()
    if case == "missing symbol":  # a shared object with one of the four functions
        source = tmp_path / "other.c"
        source.write_text("const char *Moran4dnlp(const char *i, char *o, int n) { return o; }\n")
        subprocess.run(["cc", "-shared", "-fPIC", "-o", str(tmp_path / "other.so"), str(source)], check=True)
        library = (tmp_path / "other.so").read_bytes()
    changes = {
        "library missing": {"drop": ("libmoran4dnlp.so",)},
        "not a shared object": {"write": {"libmoran4dnlp.so": _not_elf()}},
        "wrong architecture": {"write": {"libmoran4dnlp.so": _other_machine(library)}},
        "missing symbol": {"write": {"libmoran4dnlp.so": library}},
        "dictionary missing": {"drop": ("moran.db",)},
        "dictionary damaged": {"write": {"moran.db": b"not the dictionary\n"}},
        "vocabulary missing": {"drop": ("vocab_54k.txt",)},
    }[case]
    import re

    assert re.search(expected, _failure(_ref(_copy(hanbert_dir, tmp_path / "vendor", **changes))))


def test_other_platforms_and_rows_without_the_opt_in_are_refused(
    hanbert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "opt in with models.hanbert.native_tokenizer: true" in _failure(_ref(hanbert_dir, native_tokenizer=False))
    import platform

    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    monkeypatch.setattr(platform, "machine", lambda: "arm64")
    message = _failure(_ref(_copy(hanbert_dir, tmp_path / "vendor")))
    assert "is a Linux x86-64 library and cannot run on Darwin arm64" in message


def test_vendor_weights_load_from_the_pickle_with_the_untyped_config(hanbert_dir: Path) -> None:
    import torch

    from kobench.engine.models import load_model

    assert "model_type" not in json.loads((hanbert_dir / "config.json").read_text())
    model = load_model(_ref(hanbert_dir), "AutoModelForSequenceClassification", 2)
    saved = torch.load(hanbert_dir / "pytorch_model.bin", weights_only=True)
    key = "bert.embeddings.word_embeddings.weight"
    assert model.config.model_type == "bert" and torch.equal(model.state_dict()[key], saved[key])


# ---- no silent garbage tokenizer, for any row ---------------------------------------------------------------


def test_a_directory_without_its_vocabulary_is_refused_not_trained_on_five_tokens(hanbert_dir: Path, tmp_path: Path) -> None:
    # the vendor archive read by plain transformers (as a row without the hanbert-moran kind): WordPiece of the
    # special tokens only, every Hangul word [UNK]
    vendor = _copy(hanbert_dir, tmp_path / "vendor")
    config = json.loads((vendor / "config.json").read_text())
    (vendor / "config.json").write_text(json.dumps({**config, "model_type": "bert"}))
    ref = ModelRef("hanbert", ModelParams(id=str(vendor), local_only=True))
    tokenizer = load_tokenizer(ref)
    assert len(tokenizer) == 5
    with pytest.raises(KobenchError) as info:
        check_fit(ref, tokenizer, load_config(ref).vocab_size)
    message = str(info.value)
    size = config["vocab_size"]
    assert message.startswith(f"model 'hanbert': the tokenizer has 5 entries but config.json's vocab_size is {size}")
    assert "expected tokenizer.json, vocab.txt" in message and "vocab_54k.txt" in message and "\n" not in message


def test_a_wrong_vocabulary_is_refused_before_training_writes_anything(hanbert_dir: Path, tmp_path: Path, prepared) -> None:  # noqa: ANN001
    from kobench.engine.training import RunConfig, train
    from kobench.tasks import get_task

    right = (hanbert_dir / "vocab_54k.txt").read_text(encoding="utf-8").splitlines()
    wrong = right[:5] + [f"piece{i}" for i in range(len(right) - 5)]  # the same size, another model's pieces
    vendor = _copy(hanbert_dir, tmp_path / "vendor", write={"vocab_54k.txt": ("\n".join(wrong) + "\n").encode()})
    with pytest.raises(KobenchError) as info:
        train(get_task("nsmc"), _ref(vendor), RunConfig(lr=1e-3, epochs=1, max_train_samples=16, max_eval_samples=8),
              prepared_dir=prepared("nsmc"), run_dir=tmp_path / "run")
    message = str(info.value)
    assert message.startswith("model 'hanbert': 100.0% of the tokens of ") and "are [UNK] (bound 5%)" in message
    assert "expected vocab_54k.txt, libmoran4dnlp.so and moran.db" in message and "\n" not in message
    assert not (tmp_path / "run").exists()


# ---- the checkpoint needs the vendor library, and says so ------------------------------------------------------


def test_a_checkpoint_records_the_library_and_prediction_says_when_it_is_absent(
    hanbert_catalogue, prepared, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    import mlflow

    from kobench.data.splits import task_rows
    from kobench.engine.inference import Predictor
    from kobench.engine.models import resolve_model
    from kobench.engine.runs import run_config
    from kobench.engine.training import inference_setup, train
    from kobench.tasks import get_task
    from kobench.tuning.champion import input_frame, log_champion, predict_file
    from kobench.tuning.tracking import Tracker

    spec, ref = get_task("nsmc"), resolve_model("hanbert", hanbert_catalogue)
    config = run_config(hanbert_catalogue, spec, ref, lr=1e-3, epochs=1, batch_size=8, max_seq_len=32, seed=1,
                        max_train_samples=16, max_eval_samples=8)
    data = prepared("nsmc")
    train(spec, ref, config, prepared_dir=data, run_dir=tmp_path / "run")
    checkpoint = tmp_path / "run" / "checkpoint"
    settings = json.loads((checkpoint / "kobench_tokenizer.json").read_text())
    assert settings["needs_native_library"] == "libmoran4dnlp.so"
    assert settings["analyser_sha256"]["moran.db"] and settings["analyser_directory"] == str(Path(ref.id).resolve())

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    tracker = Tracker(uri, "hanbert")
    run_id = tracker.start_child(tracker.study_run("hanbert", {}), "final", "final", {}, {})
    rows = task_rows(spec, data, "test", max_rows=4, seed=1)
    source, model_id = log_champion(tracker, run_id, checkpoint, "nsmc", inference_setup(spec, ref, config),
                                    input_frame("nsmc", rows[:2]))
    tracker.register("kobench-nsmc-hanbert", source, run_id, {}, 0.5, ranked_by=metric("accuracy"), model_id=model_id)
    tracker.end(run_id)
    mlflow.set_tracking_uri(uri)
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps({"id": r["id"], "text": r["text"]}, ensure_ascii=False) + "\n" for r in rows))
    assert predict_file("nsmc", "models:/kobench-nsmc-hanbert@champion", inputs, tmp_path / "p.jsonl") == len(rows)

    monkeypatch.setenv("KOBENCH_MORAN_DIR", str(tmp_path / "elsewhere"))  # the library is not where it was
    expected = "needs the vendor analyser libmoran4dnlp.so with moran.db: "
    with pytest.raises(KobenchError, match=expected) as info:
        Predictor(spec, checkpoint, inference_setup(spec, ref, config))
    assert "set KOBENCH_MORAN_DIR to the unpacked HanBert-54kN-torch directory" in str(info.value)
    with pytest.raises(KobenchError, match=expected) as info:
        predict_file("nsmc", "models:/kobench-nsmc-hanbert@champion", inputs, tmp_path / "q.jsonl")
    assert "\n" not in str(info.value) and not (tmp_path / "q.jsonl").exists()


# ---- the command line ----------------------------------------------------------------------------------------


def _kobench(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kobench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ), timeout=300)


def test_models_check_prints_ok_with_the_kind_and_train_without_the_library_creates_nothing(
    hanbert_dir: Path, tmp_path: Path
) -> None:
    from kobench.data.prepare import prepare_task
    from kobench.tasks import get_task
    from synthetic import write_raw

    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["models"]["hanbert"]["id"] = str(hanbert_dir)
    broken = _copy(hanbert_dir, tmp_path / "broken", drop=("libmoran4dnlp.so",))
    params["models"]["broken"] = {**params["models"]["hanbert"], "id": str(broken)}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True))
    missing = f"model 'broken': {broken / 'libmoran4dnlp.so'}: not found; the vendor archive HanBert-54kN-torch ships it"
    checked = _kobench("models", "--check", "hanbert", "broken", cwd=tmp_path)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    ok, failed = checked.stdout.splitlines()
    assert ok.startswith("ok    hanbert: ok (HanBertMoranTokenizer, bert, vocab ") and "tokenizer hanbert-moran" in ok
    assert failed.startswith(f"FAIL  {missing}")
    assert "native_tokenizer opted in" in checked.stderr  # loading the native library is logged

    raw = write_raw("nsmc", tmp_path / "data" / "raw" / "nsmc")
    prepare_task(get_task("nsmc"), raw, tmp_path / "data" / "prepared" / "nsmc")
    trained = _kobench("train", "--task", "nsmc", "--model", "broken", "--epochs", "1", cwd=tmp_path)
    assert trained.returncode == 2
    assert trained.stderr.strip().splitlines()[-1].startswith(f"error: {missing}")
    assert not any((tmp_path / name).exists() for name in ("outputs", "mlruns", "mlflow.db", "optuna.db"))
