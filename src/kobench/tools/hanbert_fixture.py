"""An offline HanBert-54kN-torch: the vendor's directory layout with a stand-in analyser built from C source.

HanBERT is not on the hub: users unpack the vendor archive into a directory holding ``config.json`` (BERT,
vocabulary 54,000), ``pytorch_model.bin`` (a pickled state dict converted from the TensorFlow checkpoint),
``vocab_54k.txt``, the analyser ``libmoran4dnlp.so`` with its dictionary ``moran.db``, and ``udict.txt`` and
``uentity.txt``. This writes the same files: the analyser compiled from ``fixture_files/moran_standin.c`` with the
system C compiler (the vendor's four functions and output format, a rule-based stem + ending split, a stand-in
``moran.db``), a WordPiece vocabulary trained on the stand-in's morphemes of the given text, the BERT config
fields at tiny widths, and random weights as a pickle.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from kobench.atomic import umask_mode
from kobench.engine.hanbert_tokenizer import SPECIAL_TOKENS, VOCAB_FILE
from kobench.engine.moran import DICTIONARY, LIBRARY, open_analyser
from kobench.errors import KobenchError

DIRECTORY_NAME = "HanBert-54kN-torch"
VENDOR_EXAMPLE = "나는 걸어가고 있는 중입니다."  # the vendor's example: 나 ~~는 걸어가 ~~고 있 ~~는 중 ~~입 ~~니다 .
STANDIN_SOURCE = Path(__file__).parent / "fixture_files" / "moran_standin.c"
SPECIALS_IN_ORDER = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# the stand-in's dictionary: endings cut off an eojeol's Hangul run (a final one, then inner ones before it)
FINAL_ENDINGS = (
    "은 는 이 가 을 를 의 에 에서 에게 으로 로 와 과 도 만 까지 부터 보다 처럼 고 며 면 서 지 게 기 다 니다 습니다 "
    "요 죠 네 나 냐 라 자 는데 지만 어서 아서 았다 었다 했다 한다 된다 이다 씨는"
).split()
INNER_ENDINGS = "입 시 었 았 겠 였 되 하".split()
# bert_config.json as the vendor publishes it (no model_type: the archive predates it), at tiny widths
CONFIG = {
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 32,
    "initializer_range": 0.02,
    "intermediate_size": 64,
    "max_position_embeddings": 512,
    "num_attention_heads": 2,
    "num_hidden_layers": 2,
    "type_vocab_size": 2,
}


def compiler() -> str | None:
    """The system C compiler (``cc``, else ``gcc``), or None."""
    return shutil.which("cc") or shutil.which("gcc")


def build_standin_library(target: Path) -> Path:
    """Compile the stand-in analyser into ``target`` (a shared object).

    Raises:
        KobenchError: no C compiler, or the compilation failed.
    """
    cc = compiler()
    if cc is None:
        raise KobenchError(
            "no C compiler (cc or gcc) on PATH to build the stand-in analyser; install one (Debian: apt-get install gcc)"
        )
    result = subprocess.run(
        [cc, "-shared", "-fPIC", "-O2", "-o", str(target), str(STANDIN_SOURCE)], capture_output=True, text=True
    )
    if result.returncode != 0:
        first = (result.stderr.strip().splitlines() or ["no output"])[0]
        raise KobenchError(f"{STANDIN_SOURCE}: {cc} failed ({first[:200]})")
    return target


def standin_dictionary() -> str:
    """The stand-in ``moran.db``: a header line, then its endings."""
    lines = ["MORAN-STANDIN 1"] + [f"final {e}" for e in FINAL_ENDINGS] + [f"inner {e}" for e in INNER_ENDINGS]
    return "\n".join(lines) + "\n"


def write_vendor_directory(out: Path, texts: Iterable[str], *, vocab_size: int = 600, seed: int = 0) -> Path:
    """Write ``out`` in the vendor layout (replacing it whole); return it.

    Args:
        out: the directory to write, e.g. ``HanBert-54kN-torch``.
        texts: text the vocabulary is trained on (analysed by the stand-in first; the vendor's example is added).
        vocab_size: the size the vocabulary aims for (every character seen is kept even if that means more).
        seed: the seed of the random weights.

    Raises:
        KobenchError: no C compiler, or the stand-in does not build.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=out.parent, prefix=".hanbert-"))
    try:
        for folder in (scratch, scratch / "analyse"):
            folder.mkdir(exist_ok=True)
            build_standin_library(folder / LIBRARY)
            (folder / DICTIONARY).write_text(standin_dictionary(), encoding="utf-8")
        (scratch / "udict.txt").write_text("", encoding="utf-8")
        (scratch / "uentity.txt").write_text("", encoding="utf-8")
        # a copy of its own analyses the training text: a loaded library stays tied to the path it was loaded from
        analyser = open_analyser(scratch / "analyse")
        morphemes = [" ".join(analyser.analyse(t)) for t in [*texts, VENDOR_EXAMPLE] if t.strip()]
        shutil.rmtree(scratch / "analyse")
        vocab = train_vocabulary(morphemes, vocab_size)
        (scratch / VOCAB_FILE).write_text("\n".join(vocab) + "\n", encoding="utf-8")
        config = {**CONFIG, "vocab_size": len(vocab)}
        (scratch / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        (scratch / "pytorch_model.bin").write_bytes(_pickled_weights(config, seed))
        os.chmod(scratch, umask_mode(directory=True))
        for path in scratch.iterdir():
            path.chmod(umask_mode() | (0o111 if path.name == LIBRARY else 0))
        if out.exists():
            shutil.rmtree(out)
        os.replace(scratch, out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return out


def train_vocabulary(morphemes: list[str], vocab_size: int) -> list[str]:
    """A WordPiece vocabulary over space-separated morphemes (marks kept: ``~~는`` is one word), specials first."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    scratch = Tokenizer(models.WordPiece(unk_token=SPECIAL_TOKENS["unk_token"]))
    scratch.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    # the trainer numbers "##c" in hash-map order: declaring them up front, sorted, makes the vocabulary repeatable
    continuations = sorted({f"##{c}" for line in morphemes for word in line.split() for c in word[1:]})
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=SPECIALS_IN_ORDER + continuations, show_progress=False
    )
    scratch.train_from_iterator(morphemes, trainer=trainer)
    vocab = scratch.get_vocab(with_added_tokens=True)
    return sorted(vocab, key=vocab.get)


def _pickled_weights(config: dict, seed: int) -> bytes:
    """Random ``BertForPreTraining`` weights (the converted checkpoint's key names) as a pickled state dict."""
    import torch
    import transformers

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = transformers.BertForPreTraining(transformers.BertConfig(**config))
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getvalue()
