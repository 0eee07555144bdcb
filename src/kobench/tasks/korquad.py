"""KorQuAD 1.0: extractive QA, reported on the official dev file (EM / character F1)."""

from kobench.tasks.spec import Hyperparameters, RecipeChange, SourceFile, TaskSpec

_URL = "https://raw.githubusercontent.com/korquad/korquad.github.io/61d7d6682948375dd8f06ef27e788fd19982af38/dataset"

TASK = TaskSpec(
    name="korquad",
    family="span_qa",
    sources=(
        # 60,407 questions; too large for the mirror, pinned by its git blob
        SourceFile(
            "KorQuAD_v1.0_train.json",
            f"{_URL}/KorQuAD_v1.0_train.json",
            git_sha1="82e3c5939e5e61a1c4ae94e42676800e88ec52a6",
        ),
        SourceFile(
            "KorQuAD_v1.0_dev.json",
            f"{_URL}/KorQuAD_v1.0_dev.json",
            sha256="25ffeb51e6c51ec02c071b60a10188e10005c144110f0d876b26079d80a35bdf",
            size=3_881_058,
        ),
    ),
    splits=(("train", "KorQuAD_v1.0_train.json"), ("test", "KorQuAD_v1.0_dev.json")),
    reader="squad_json",
    main_metric="char_f1",
    published_column="KorQuAD (Dev) (EM/F1)",
    hyperparameters=Hyperparameters(
        lr=5e-5, epochs=7, batch_size=8, max_seq_len=512,
        changes=(RecipeChange("small", batch_size=32),),
    ),
    description="Wikipedia reading comprehension; 60k train / 5,774 dev questions.",
)
