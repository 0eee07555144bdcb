"""KorNLI: natural language inference, trained on MNLI only as in the reference (accuracy)."""

from kobench.tasks.spec import Columns, Hyperparameters, Label, RecipeChange, SourceFile, TaskSpec

_URL = "https://raw.githubusercontent.com/kakaobrain/KorNLUDatasets/0df0fe7d496eb61b092e022e238c2230b29f1cbc/KorNLI"

TASK = TaskSpec(
    name="kornli",
    family="classification",
    sources=(
        # 392,702 rows; too large for the mirror, pinned by its git blob
        SourceFile(
            "multinli.train.ko.tsv",
            f"{_URL}/multinli.train.ko.tsv",
            git_sha1="94d26a9d0dd045928148ef8691a256bd0e7d45c3",
        ),
        SourceFile(
            "xnli.dev.ko.tsv",
            f"{_URL}/xnli.dev.ko.tsv",
            sha256="821fb1c1c2e538ac2724a6132da36ffa379eb9a542ceb89243b3cf711377382c",
            size=511_383,
        ),
        SourceFile(
            "xnli.test.ko.tsv",
            f"{_URL}/xnli.test.ko.tsv",
            sha256="0db53cf8e182283a0d0404ec3fe1b15d1e29236d23d22082dc20d43067254b3e",
            size=1_032_430,
        ),
    ),
    splits=(("train", "multinli.train.ko.tsv"), ("validation", "xnli.dev.ko.tsv"), ("test", "xnli.test.ko.tsv")),
    reader="delimited",
    # QUOTE_NONE: default quoting collapses dev 2,490 -> 1,571 records
    columns=Columns(text="sentence1", text_pair="sentence2", label="gold_label"),
    labels=(Label("contradiction", "contradiction"), Label("entailment", "entailment"), Label("neutral", "neutral")),
    main_metric="accuracy",
    published_column="KorNLI (acc)",
    hyperparameters=Hyperparameters(
        lr=5e-5, epochs=15, batch_size=64,
        changes=(RecipeChange("xlm-roberta", lr=1e-5), RecipeChange("small", batch_size=128)),
    ),
    description="XNLI dev/test in Korean; MNLI-ko train.",
)
