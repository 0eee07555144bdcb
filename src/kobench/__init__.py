"""kobench: a reproducible fine-tuning benchmark for Korean language models."""

__version__ = "0.1.0"
