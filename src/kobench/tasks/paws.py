"""PAWS-X Korean: paraphrase identification (accuracy)."""

from kobench.tasks.spec import Columns, Hyperparameters, Label, RecipeChange, SourceFile, TaskSpec

_URL = "https://raw.githubusercontent.com/monologg/KoELECTRA/024fbdd600e653b6e4bdfc64ceec84181b5ce6c4/finetune/data/paws"

TASK = TaskSpec(
    name="paws",
    family="classification",
    sources=(
        # 49,401 machine-translated rows; too large for the mirror, pinned by its git blob
        SourceFile(
            "translated_train.tsv",
            f"{_URL}/translated_train.tsv",
            git_sha1="a09883705bed3ba1bd61f281559923fd2592b307",
        ),
        SourceFile(
            "dev_2k.tsv",
            f"{_URL}/dev_2k.tsv",
            sha256="ec6f963972f61f50b164bcf62c8ee06e6565c365d871d14d85e08f398d402b99",
            size=532_624,
        ),
        SourceFile(
            "test_2k.tsv",
            f"{_URL}/test_2k.tsv",
            sha256="45bb61a9cda953047f4d0628f02555fef2d0c0b5dc05787be3e2c16965a2eef8",
            size=540_041,
        ),
    ),
    splits=(("train", "translated_train.tsv"), ("validation", "dev_2k.tsv"), ("test", "test_2k.tsv")),
    reader="delimited",
    columns=Columns(id="id", text="sentence1", text_pair="sentence2", label="label"),
    labels=(Label("0", "not_paraphrase"), Label("1", "paraphrase")),
    # the reference drops train rows with an empty side; dev/test keep all 2,000 rows ("NS" placeholders too)
    skip_empty_in=("train",),
    main_metric="accuracy",
    published_column="PAWS (acc)",
    hyperparameters=Hyperparameters(
        lr=3e-5, epochs=15, batch_size=32,
        changes=(RecipeChange("xlm-roberta", lr=1e-5), RecipeChange("small", batch_size=64)),
    ),
    description="Adversarial paraphrase pairs; 49k MT train / 2k dev / 2k test.",
)
