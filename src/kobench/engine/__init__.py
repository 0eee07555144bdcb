"""Stage 3, one fine-tune: models and tokenizers, features, batches, the training loop, evaluation and run outputs."""
