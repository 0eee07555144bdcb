"""Synthetic upstream files for every task, in the exact upstream formats and with their quirks.

Texts are learnable (positive/negative words decide the label) so that tiny models beat chance.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from kobench.tasks import get_task

POSITIVE = ["좋다", "최고", "재밌다", "감동", "추천", "훌륭하다"]
NEGATIVE = ["별로", "최악", "지루하다", "실망", "노잼", "아깝다"]
FILLER = ["영화", "배우", "연기", "스토리", "오늘", "정말", "그냥", "음악", "장면", "시간"]


def _sentence(rng: random.Random, words: list[str], n: int = 6) -> str:
    picked = [rng.choice(FILLER) for _ in range(n - 2)] + [rng.choice(words), rng.choice(words)]
    rng.shuffle(picked)
    return " ".join(picked)


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def nsmc(raw: Path, n: int = 40, seed: int = 0) -> None:
    """ratings_*.txt: TSV, header, QUOTE_NONE, an empty document and doubly escaped quotes."""
    for name, offset in (("ratings_train.txt", 0), ("ratings_test.txt", 10_000)):
        rng = random.Random(seed + offset)
        lines = ["id\tdocument\tlabel"]
        for i in range(n):
            label = i % 2
            lines.append(f"{offset + i}\t{_sentence(rng, POSITIVE if label else NEGATIVE)}\t{label}")
        lines[1] = f"{offset}\t\t0"  # empty document: must stay "" (not NaN)
        lines[2] = f'{offset + 1}\t"""최고 영화 좋다"""\t1'  # literal quotes kept as written
        _write(raw / name, "\n".join(lines) + "\n")


def naver_ner(raw: Path, n: int = 30, seed: int = 0) -> None:
    """train.tsv / test.tsv: eojeols TAB suffix-style tags, one sentence a line."""
    for name in ("train.tsv", "test.tsv"):
        rng = random.Random(seed + len(name))
        lines = []
        for _ in range(n):
            tokens, tags = [], []
            for _ in range(rng.randint(3, 7)):
                kind = rng.random()
                if kind < 0.25:
                    tokens += ["김철수씨는", "어제"]
                    tags += ["PER-B", "DAT-B"]
                elif kind < 0.4:
                    tokens += ["서울", "특별시에"]
                    tags += ["LOC-B", "LOC-I"]
                else:
                    tokens.append(rng.choice(FILLER))
                    tags.append("O")
            lines.append(f"{' '.join(tokens)}\t{' '.join(tags)}")
        lines.append('"인용"한 말\tO O')  # a quote inside a line must not merge lines
        _write(raw / name, "\n".join(lines) + "\n")


def _pairs(raw: Path, name: str, header: list[str], rows: list[list[str]], bom_crlf: bool = False) -> None:
    sep = "\r\n" if bom_crlf else "\n"
    text = sep.join("\t".join(r) for r in [header, *rows]) + sep
    _write(raw / name, text, "utf-8-sig" if bom_crlf else "utf-8")


def _pair_rows(rng: random.Random, n: int) -> list[tuple[str, str, int]]:
    rows = []
    for i in range(n):
        same = i % 2
        a = _sentence(rng, POSITIVE)
        rows.append((a, a if same else _sentence(rng, NEGATIVE), same))
    return rows


def paws(raw: Path, n: int = 40, seed: int = 0) -> None:
    """id, sentence1, sentence2, label; \\x1c inside a row, NS placeholders, an empty train side."""
    rng = random.Random(seed)
    header = ["id", "sentence1", "sentence2", "label"]
    for name in ("translated_train.tsv", "dev_2k.tsv", "test_2k.tsv"):
        rows = [[str(i), a, b, str(y)] for i, (a, b, y) in enumerate(_pair_rows(rng, n), start=1)]
        rows[0][1] = "앞 문장\x1c 뒤 문장"  # str.splitlines() would split here
        rows[1][2] = "NS"
        if name.startswith("translated"):
            rows[2][2] = ""  # dropped from train only
        _pairs(raw, name, header, rows)


def kornli(raw: Path, n: int = 45, seed: int = 0) -> None:
    """sentence1, sentence2, gold_label; an unbalanced quote."""
    rng = random.Random(seed)
    gold = ["contradiction", "entailment", "neutral"]
    for name in ("multinli.train.ko.tsv", "xnli.dev.ko.tsv", "xnli.test.ko.tsv"):
        rows = []
        for i in range(n):
            a = _sentence(rng, POSITIVE)
            b = {0: _sentence(rng, NEGATIVE), 1: a, 2: _sentence(rng, FILLER)}[i % 3]
            rows.append([a, b, gold[i % 3]])
        rows[0][0] = '그는 "안녕 이라고 말했다'
        _pairs(raw, name, ["sentence1", "sentence2", "gold_label"], rows)


def korsts(raw: Path, n: int = 40, seed: int = 0) -> None:
    """7 columns, repeated upstream ids, no final newline in dev/test."""
    rng = random.Random(seed)
    header = ["genre", "filename", "year", "id", "score", "sentence1", "sentence2"]
    for name in ("sts-train.tsv", "sts-dev.tsv", "sts-test.tsv"):
        rows = []
        for i in range(n):
            a, overlap = _sentence(rng, POSITIVE), i % 6
            b = " ".join(a.split()[:overlap] + [rng.choice(NEGATIVE) for _ in range(6 - overlap)])
            rows.append(["main-news", "headlines", "2015", f"{i % 5:04d}", f"{overlap * 5 / 6:.3f}", a, b])
        text = "\n".join("\t".join(r) for r in [header, *rows])
        _write(raw / name, text if name != "sts-train.tsv" else text + "\n")


def question_pair(raw: Path, n: int = 40, seed: int = 0) -> None:
    """question1, question2, is_duplicate (0 = same); train written with BOM and CRLF."""
    rng = random.Random(seed)
    for name in ("train.txt", "validation.txt", "test.txt"):
        rows = [[a, b, str(1 - y)] for a, b, y in _pair_rows(rng, n)]
        _pairs(raw, name, ["question1", "question2", "is_duplicate"], rows, bom_crlf=name == "train.txt")


def korquad(raw: Path, n: int = 12, seed: int = 0) -> None:
    """SQuAD v1.1 JSON, ASCII with \\u escapes, several articles."""
    rng = random.Random(seed)
    for name, version in (("KorQuAD_v1.0_train.json", "train"), ("KorQuAD_v1.0_dev.json", "dev")):
        data = []
        for article in range(4):
            paragraphs = []
            for p in range(n // 4):
                year = 1900 + rng.randint(0, 120)
                city = rng.choice(["서울", "부산", "대구", "광주"])
                context = f"{_sentence(rng, FILLER)} 그는 {year}년에 {city}에서 태어났다. {_sentence(rng, FILLER)}"
                qas = []
                for q, answer in ((0, f"{year}년"), (1, city)):
                    question = "그는 언제 태어났나?" if q == 0 else "그는 어디에서 태어났나?"
                    answers = [{"text": answer, "answer_start": context.index(answer)}]
                    qas.append({"answers": answers, "id": f"{version}-{article}-{p}-{q}", "question": question})
                paragraphs.append({"qas": qas, "context": context})
            data.append({"paragraphs": paragraphs, "title": f"문서{article}"})
        _write(raw / name, json.dumps({"version": f"KorQuAD_v1.0_{version}", "data": data}))


def hate_speech(raw: Path, n: int = 45, seed: int = 0) -> None:
    """comments, contain_gender_bias, bias, hate with real CSV quoting."""
    rng = random.Random(seed)
    hate = ["none", "offensive", "hate"]
    for name in ("train.tsv", "dev.tsv"):
        lines = ["comments\tcontain_gender_bias\tbias\thate"]
        for i in range(n):
            words = {0: POSITIVE, 1: NEGATIVE, 2: ["혐오", "증오", "차별"]}[i % 3]
            lines.append(f"{_sentence(rng, words)}\tFalse\tnone\t{hate[i % 3]}")
        lines[1] = '"꺄""~~ 최고 좋다 훈훈합니다^^"\tFalse\tnone\tnone'
        _write(raw / name, "\n".join(lines) + "\n")


WRITERS = {
    "nsmc": nsmc,
    "naver-ner": naver_ner,
    "paws": paws,
    "kornli": kornli,
    "korsts": korsts,
    "question-pair": question_pair,
    "korquad": korquad,
    "hate-speech": hate_speech,
}


def write_raw(task: str, raw_dir: Path, **kwargs: int) -> Path:
    """Write synthetic upstream files for ``task`` into ``raw_dir`` (= data/raw/<task>)."""
    get_task(task)
    WRITERS[task](raw_dir, **kwargs)
    return raw_dir


def repin(spec, raw_dir: Path):  # noqa: ANN001, ANN201
    """A copy of ``spec`` whose sources are pinned to the synthetic files in ``raw_dir``."""
    import dataclasses

    from kobench.hashing import file_digests

    sources = []
    for source in spec.sources:
        path = raw_dir / source.name
        sha = file_digests(path)[0] if path.exists() else "0" * 64
        sources.append(dataclasses.replace(source, sha256=sha, git_sha1=None, size=None))
    return dataclasses.replace(spec, sources=tuple(sources))
