"""astrabot-pipeline: Signal chat history -> privacy-checked LoRA fine-tune, as Dagster assets."""

__version__ = "0.1.0"
