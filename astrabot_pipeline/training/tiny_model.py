"""A tiny Qwen2- or Qwen3-architecture causal LM built locally, so training runs on a CPU in minutes.

The tokenizer is a byte-level BPE trained only on the texts it is given (the anonymized
training text), with ChatML special tokens and a chat template whose `{% generation %}`
markers let TRL compute the loss on assistant turns only. The model is randomly
initialised from a seed: it knows nothing before the LoRA stages teach it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from astrabot_pipeline.training.base_model import save_model_folder
from astrabot_pipeline.training.chat_template import (
    CHATML_TRAINING_TEMPLATE,
    END_OF_TEXT,
    IM_END,
    IM_START,
)
from astrabot_pipeline.training.model_folder import TINY_MODEL_MARKER

if TYPE_CHECKING:  # torch and transformers load when a model is built (base_model.py says why)
    from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = (END_OF_TEXT, IM_START, IM_END)

# Qwen2's pre-tokenizer split: contractions, letter runs, single digits (so random-digit
# canaries never become one memorable token), punctuation runs, whitespace.
QWEN2_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# The architectures a tiny model can have: (config class, model class) in transformers. Qwen3 adds
# per-head RMSNorm on queries and keys and an explicit head_dim; the LoRA target modules
# (q/k/v/o and gate/up/down projections) are named as in Qwen2.
TINY_ARCHITECTURES = {
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM"),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM"),
}
DEFAULT_TINY_ARCHITECTURE = "qwen2"

DEFAULT_TINY_VOCAB_SIZE = 2048
DEFAULT_TINY_MAX_POSITIONS = 1024
# LoRA leaves the embeddings frozen, and with tied embeddings their norm caps how sharp the
# next-token distribution can get. At Qwen's 0.02 a 64-wide model cannot get far below
# uniform loss however long LoRA trains; at 0.2 the tiny model learns a repetitive corpus
# within tens of steps (measured: held-out loss 7.0 -> 1.8 in 60 steps vs 5.9 -> 5.0).
DEFAULT_TINY_INITIALIZER_RANGE = 0.2


def train_chatml_tokenizer(
    texts: Iterable[str], *, vocab_size: int = DEFAULT_TINY_VOCAB_SIZE, model_max_length: int
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on `texts` only and wrap it as a ChatML tokenizer."""
    from transformers import PreTrainedTokenizerFast

    # The same normalizer and pre-tokenizer as Qwen2's own tokenizer, so the saved files
    # reload as a `Qwen2Tokenizer` that encodes exactly as this one does.
    backend = Tokenizer(models.BPE())
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        # All 256 byte symbols up front: any text, even unseen, stays encodable.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer=trainer)

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token=IM_END,
        pad_token=END_OF_TEXT,
        model_max_length=model_max_length,
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = CHATML_TRAINING_TEMPLATE
    return tokenizer


def _chat_texts(texts: Iterable[str]) -> Iterable[str]:
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"tokenizer training texts must be str, got {type(text).__name__}")
        yield text


def build_tiny_base_model(
    texts: Iterable[str],
    out_dir: Path,
    *,
    vocab_size: int = DEFAULT_TINY_VOCAB_SIZE,
    seed: int = 0,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_attention_heads: int = 4,
    num_key_value_heads: int = 2,
    intermediate_size: int | None = None,
    max_position_embeddings: int = DEFAULT_TINY_MAX_POSITIONS,
    initializer_range: float = DEFAULT_TINY_INITIALIZER_RANGE,
    architecture: str = DEFAULT_TINY_ARCHITECTURE,
) -> Path:
    """Build and save a seeded, randomly initialised tiny Qwen2 (or Qwen3) LM plus its tokenizer.

    The same texts and seed give byte-identical weights and the same vocabulary.
    Returns `out_dir`, which then loads with `AutoModelForCausalLM`/`AutoTokenizer`.
    """
    if architecture not in TINY_ARCHITECTURES:
        raise ValueError(
            f"unknown tiny architecture {architecture!r}: use one of {sorted(TINY_ARCHITECTURES)}"
        )
    import torch
    import transformers

    config_class, model_class = (getattr(transformers, n) for n in TINY_ARCHITECTURES[architecture])
    if hidden_size % num_attention_heads:
        raise ValueError("hidden_size must be a multiple of num_attention_heads")
    if num_attention_heads % num_key_value_heads:
        raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")

    tokenizer = train_chatml_tokenizer(
        _chat_texts(texts), vocab_size=vocab_size, model_max_length=max_position_embeddings
    )
    if len(tokenizer) <= 256 + len(SPECIAL_TOKENS):
        raise ValueError(
            "the tokenizer learned no merges: give build_tiny_base_model more training text"
        )

    eos_id = tokenizer.convert_tokens_to_ids(IM_END)
    pad_id = tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    extra = {"head_dim": hidden_size // num_attention_heads} if architecture == "qwen3" else {}
    config = config_class(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_attention_heads,
        num_key_value_heads=num_key_value_heads,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        initializer_range=initializer_range,
        bos_token_id=None,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        **extra,
    )
    # Seed a private RNG scope: building a model must not disturb the caller's randomness.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(config)
    model.generation_config = transformers.GenerationConfig(
        eos_token_id=[eos_id, pad_id], pad_token_id=pad_id, bos_token_id=None
    )

    out_dir = Path(out_dir)
    build_info = {
        "architecture": model_class.__name__,
        "seed": seed,
        "vocab_size": len(tokenizer),
        "hidden_size": hidden_size,
        "num_layers": num_layers,
        "parameters": model.num_parameters(),
    }
    return save_model_folder(out_dir, model, tokenizer, TINY_MODEL_MARKER, build_info)
