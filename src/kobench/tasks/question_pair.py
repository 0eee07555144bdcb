"""Question Pair (songys/Question_pair v.2): same or different question (accuracy)."""

from kobench.tasks.spec import Columns, Hyperparameters, Label, RecipeChange, SourceFile, TaskSpec

_URL = "https://raw.githubusercontent.com/songys/Question_pair/e84b6f0e784c10c6a22cbbc7b1e415b901baa877"

TASK = TaskSpec(
    name="question-pair",
    family="classification",
    sources=(
        SourceFile(
            "train.txt",
            f"{_URL}/train.txt",
            sha256="addf4c88b19066ad55a09f466c5c3f6428b3f2bd5d55100d3ca5b93d9d8daff9",
            size=441_758,
        ),
        SourceFile(
            "validation.txt",
            f"{_URL}/validation.txt",
            sha256="3928c783f561f36547fd8e0c9d78a6e1d6013db3debcf559c4135aa5536badea",
            size=49_083,
        ),
        SourceFile(
            "test.txt",
            f"{_URL}/test.txt",
            sha256="0d5738107ea3742de4dcaf3a358b6bfa4818781bc6aec11a9956a3fbe35f8b61",
            size=54_395,
        ),
    ),
    splits=(("train", "train.txt"), ("validation", "validation.txt"), ("test", "test.txt")),
    reader="delimited",
    columns=Columns(text="question1", text_pair="question2", label="is_duplicate"),
    # upstream is_duplicate is REVERSED relative to Quora: 0 = same question, 1 = different
    labels=(Label("0", "same"), Label("1", "different")),
    main_metric="accuracy",
    hyperparameters=Hyperparameters(
        lr=5e-5, epochs=10, batch_size=32,
        changes=(RecipeChange("xlm-roberta", lr=1e-5),),
    ),
    published_column="Question Pair (acc)",
    description="Korean question pairs; 6,136 train / 682 validation / 758 test.",
)
