"""The ChatML training template: the one chat format every profile trains with.

TRL computes the loss on assistant turns only (`assistant_only_loss=True`) from the
`{% generation %}` markers of the chat template; Qwen2.5's, Qwen3's and SmolLM2's own
templates have none, and they add a default system prompt ("You are Qwen..."). Models
whose tokenizer has the ChatML tokens get this template instead, in training, in the
evaluation and in the tokenizer saved beside each adapter.
"""

from __future__ import annotations

import re

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
END_OF_TEXT = "<|endoftext|>"

# ChatML as Qwen2.5 renders it, without the default system prompt. Each assistant turn's
# content *and* its <|im_end|> sit inside {% generation %}, so the assistant-token mask
# covers exactly what the model must produce, including the token that ends its turn.
CHATML_TRAINING_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- generation %}{{- message['content'] + '<|im_end|>' }}{%- endgeneration %}"
    "{{- '\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

_GENERATION_MARKER = re.compile(r"\{%-?\s*generation\s*-?%\}")


def has_generation_markers(template: str | None) -> bool:
    return bool(template and _GENERATION_MARKER.search(template))


def has_chatml_tokens(tokenizer) -> bool:
    """True when <|im_start|> and <|im_end|> are single tokens of `tokenizer`."""
    vocabulary = tokenizer.get_vocab()
    return IM_START in vocabulary and IM_END in vocabulary


def use_chatml_training_template(tokenizer) -> bool:
    """Give a ChatML tokenizer without generation markers the training template.

    Returns whether the tokenizer now has a template with generation markers; a
    non-ChatML tokenizer without them is left as it is.
    """
    if has_generation_markers(getattr(tokenizer, "chat_template", None)):
        return True
    if not has_chatml_tokens(tokenizer):
        return False
    tokenizer.chat_template = CHATML_TRAINING_TEMPLATE
    return True


def stop_token_ids(tokenizer, model=None) -> tuple[int, ...]:
    """The tokens that end a turn, without repeats: <|im_end|>, the tokenizer's end of
    sequence, and the eos ids of `model`'s generation config. The one stop-token set of
    generation in the evaluation and in inference."""
    ids: list[int] = []
    im_end = tokenizer.get_vocab().get(IM_END)
    if im_end is not None:
        ids.append(int(im_end))
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if configured is not None:
        ids.extend(int(i) for i in (configured if isinstance(configured, list) else [configured]))
    return tuple(dict.fromkeys(ids))
