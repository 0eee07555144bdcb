"""KorSTS: semantic textual similarity, regression on the raw 0-5 score (Spearman)."""

from kobench.tasks.spec import Columns, Hyperparameters, RecipeChange, SourceFile, TaskSpec

_URL = "https://raw.githubusercontent.com/kakaobrain/KorNLUDatasets/0df0fe7d496eb61b092e022e238c2230b29f1cbc/KorSTS"

TASK = TaskSpec(
    name="korsts",
    family="regression",
    sources=(
        SourceFile(
            "sts-train.tsv",
            f"{_URL}/sts-train.tsv",
            sha256="b5aaa7f957d6ff46f4b6834a8b0f024a9234a6eefe9289aed66746b4533da3b8",
            size=1_046_952,
        ),
        SourceFile(
            "sts-dev.tsv",
            f"{_URL}/sts-dev.tsv",
            sha256="d835b65b424401fbcce6be28a78159df8d61f5b19977ea7a0b83b8cb6105f393",
            size=307_276,
        ),
        SourceFile(
            "sts-test.tsv",
            f"{_URL}/sts-test.tsv",
            sha256="13f83a3440d9db52d134eb40303ce021b03264aa338fbf2871c8786ce04d2105",
            size=249_596,
        ),
    ),
    splits=(("train", "sts-train.tsv"), ("validation", "sts-dev.tsv"), ("test", "sts-test.tsv")),
    reader="delimited",
    # upstream "id" repeats across genres/years (368 duplicates in test), so ids are file-line based
    columns=Columns(text="sentence1", text_pair="sentence2", label="score"),
    main_metric="spearman",
    hyperparameters=Hyperparameters(
        lr=5e-5, epochs=10, batch_size=32,
        changes=(RecipeChange("xlm-roberta", seed=777),),
    ),
    published_column="KorSTS (spearman)",
    description="STS-B in Korean; 5,749 train / 1,500 dev / 1,379 test.",
)
