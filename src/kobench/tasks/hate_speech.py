"""Korean HateSpeech (BEEP!): the hate column, reported on the labelled dev file (macro F1)."""

from kobench.tasks.spec import Columns, Label, SourceFile, TaskSpec

_URL = "https://raw.githubusercontent.com/kocohub/korean-hate-speech/f8d05dce2b22007bb149e5139c0060c68ad8f94b/labeled"

TASK = TaskSpec(
    name="hate-speech",
    family="classification",
    sources=(
        SourceFile(
            "train.tsv",
            f"{_URL}/train.tsv",
            sha256="ebebacdcd023af2c4acc8c0a37695fb6433ac04fc009feff8f222724e303a5a9",
            size=913_546,
        ),
        SourceFile(
            "dev.tsv",
            f"{_URL}/dev.tsv",
            sha256="232b615d6e359a9d31dfb8370f32e1733dc5bb3f9c5430d34d7fcc7ba4b7e8ef",
            size=54_903,
        ),
    ),
    splits=(("train", "train.tsv"), ("test", "dev.tsv")),
    reader="delimited",
    # unlike the other TSVs these use real CSV quoting ("꺄""~~…"): 10 train / 2 dev rows
    quoting="csv",
    columns=Columns(text="comments", label="hate"),
    labels=(Label("none", "none"), Label("offensive", "offensive"), Label("hate", "hate")),
    main_metric="macro_f1",
    published_column="Korean-Hate-Speech (Dev) (F1)",
    description="News comments; 7,896 train / 471 dev, labels none/offensive/hate.",
)
