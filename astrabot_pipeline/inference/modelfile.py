"""The Ollama `Modelfile` written beside an exported model.

Syntax as Ollama documents it (docs.ollama.com/modelfile): `FROM .` builds from the
safetensors folder the Modelfile sits in; `TEMPLATE` is a Go template over
`.Messages` (each with `.Role` and `.Content`); `PARAMETER stop` ends a turn.
The template renders ChatML exactly as training did: every message as
`<|im_start|>role\\ncontent<|im_end|>\\n`, then the assistant's generation prompt.
"""

from __future__ import annotations

MODELFILE_NAME = "Modelfile"
OLLAMA_MAX_CONTEXT = 4096
DEFAULT_OLLAMA_TEMPERATURE = 0.7

CHATML_OLLAMA_TEMPLATE = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n"
    "{{ .Content }}<|im_end|>\n"
    "{{ end }}<|im_start|>assistant\n"
)


def render_modelfile(*, chatml: bool, context_tokens: int) -> str:
    """The Modelfile text; without ChatML tokens in the tokenizer no template is set
    (Ollama then uses the model's own, if its importer finds one)."""
    lines = [
        "# Written by `astrabot export`. In this folder: ollama create NAME -f Modelfile",
        "# (see README.md: Ollama imports safetensors only for the architectures it supports).",
        "FROM .",
        "",
    ]
    if chatml:
        lines += [
            f'TEMPLATE """{CHATML_OLLAMA_TEMPLATE}"""',
            'PARAMETER stop "<|im_end|>"',
            'PARAMETER stop "<|im_start|>"',
        ]
    lines += [
        f"PARAMETER temperature {DEFAULT_OLLAMA_TEMPERATURE}",
        f"PARAMETER num_ctx {min(context_tokens, OLLAMA_MAX_CONTEXT)}",
    ]
    return "\n".join(lines) + "\n"


__all__ = ["MODELFILE_NAME", "render_modelfile"]
