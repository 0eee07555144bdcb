"""Naver NER (Naver x Changwon NLP Challenge 2018) in the KoELECTRA train/test split."""

from kobench.tasks.spec import Hyperparameters, Label, SourceFile, TaskSpec

_URL = (
    "https://raw.githubusercontent.com/monologg/KoELECTRA/024fbdd600e653b6e4bdfc64ceec84181b5ce6c4/finetune/data/naver-ner"
)
ENTITY_TYPES = ("PER", "FLD", "AFW", "ORG", "LOC", "CVL", "DAT", "TIM", "NUM", "EVT", "ANM", "PLT", "MAT", "TRM")

TASK = TaskSpec(
    name="naver-ner",
    family="token_classification",
    sources=(
        # 81,000 sentences; too large for the mirror, pinned by its git blob
        SourceFile("train.tsv", f"{_URL}/train.tsv", git_sha1="a9e359664d261e9c7fc2a63d5ecf465bbb00b01b"),
        SourceFile(
            "test.tsv",
            f"{_URL}/test.tsv",
            sha256="27bc732d9bd5ea2e1c0c43964dac9ce3ab9c9b8bfaef0f71bfde2bfbcbac2694",
            size=1_445_566,
        ),
    ),
    splits=(("train", "train.tsv"), ("test", "test.tsv")),
    reader="koelectra_ner",
    # upstream writes suffix tags (PER-B); prepared data uses BIO prefix tags (B-PER)
    labels=(Label("O", "O"),) + tuple(Label(f"{t}-{p}", f"{p}-{t}") for t in ENTITY_TYPES for p in ("B", "I")),
    main_metric="entity_f1",
    published_column="Naver NER (F1)",
    hyperparameters=Hyperparameters(lr=5e-5, epochs=20, batch_size=32),
    description="Named entities over eojeols, 14 types; 81k train / 9k test sentences.",
)
