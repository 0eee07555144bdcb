"""NSMC: Naver sentiment movie corpus v1.0 (binary sentiment, accuracy)."""

from kobench.tasks.spec import Columns, Hyperparameters, Label, RecipeChange, SourceFile, TaskSpec

_URL = "https://raw.githubusercontent.com/e9t/nsmc/cc0670e872d4ac27bfe36c87456783004b39ef6c"

TASK = TaskSpec(
    name="nsmc",
    family="classification",
    sources=(
        SourceFile(
            "ratings_train.txt",
            f"{_URL}/ratings_train.txt",
            sha256="e03b7d14e9e41be8d464a28057cd25d7396c53e67aa7fd5f7e552c59b0ee2940",
            size=14_628_807,
        ),
        SourceFile(
            "ratings_test.txt",
            f"{_URL}/ratings_test.txt",
            sha256="8ac9f64052f11dbf6ae0acb5e038f03d90a76f0eda7820cfb3a92d02edfcebda",
            size=4_893_335,
        ),
    ),
    splits=(("train", "ratings_train.txt"), ("test", "ratings_test.txt")),
    reader="delimited",
    # QUOTE_NONE: 623 train / 233 test documents carry literal, doubly escaped quotes; 5 + 3 are empty
    columns=Columns(id="id", text="document", label="label"),
    labels=(Label("0", "negative"), Label("1", "positive")),
    main_metric="accuracy",
    hyperparameters=Hyperparameters(
        lr=5e-5, epochs=10, batch_size=32,
        changes=(RecipeChange("xlm-roberta", lr=1e-5, warmup_ratio=0.1),),
    ),
    published_column="NSMC (acc)",
    description="Movie review sentiment; 150k train / 50k test.",
)
