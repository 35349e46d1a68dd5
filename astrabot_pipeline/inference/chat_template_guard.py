"""Which chat template turns a conversation into a prompt, and the bound on any other.

An adapter folder may come from anyone, and its tokenizer's chat template is a Jinja
program: transformers renders it in Jinja's sandbox, which stops attribute escapes but
not a loop that never ends or a string of gigabytes. So the template astrabot trains with
(`training/chat_template.py`, ChatML) is the one used whatever the folder holds; the
folder's own template is used only on request (`--adapter-chat-template`), and then each
prompt is rendered in a forked child under a time limit, an address-space limit (Linux)
and an output cap. A failure is reported by its kind only: an exception's message could
quote the conversation. See docs/hostile-input.md.
"""

from __future__ import annotations

import contextlib
import os
import resource
import select
import signal
import time
from collections.abc import Mapping, Sequence
from typing import Any

from astrabot_pipeline.inference.errors import AdapterUnusableError, ChatTemplateError
from astrabot_pipeline.training.chat_template import CHATML_TRAINING_TEMPLATE, has_chatml_tokens

# A real template renders a conversation in milliseconds.
TEMPLATE_SECONDS = 2.0
# Memory the child may add to what it inherits, and the largest prompt it may return
# (far past any context a supported model has, at a few bytes a token).
TEMPLATE_MEMORY_BYTES = 256 << 20
MAX_PROMPT_BYTES = 4 << 20


def choose_chat_template(tokenizer: Any, name: str, *, adapter_template: bool) -> str | None:
    """Give `tokenizer` the template prompts are rendered with; return a one-line note when
    the adapter's own template was set aside (None when there is nothing to say).

    Without `adapter_template`, a ChatML tokenizer always gets the training template; one
    without ChatML tokens cannot use it, so it is refused with the flag named.
    """
    own = getattr(tokenizer, "chat_template", None)
    if adapter_template:
        if not own:
            raise AdapterUnusableError(
                f"the tokenizer of {name} has no chat template of its own: leave out "
                "--adapter-chat-template"
            )
        return None
    if not has_chatml_tokens(tokenizer):
        raise AdapterUnusableError(
            f"the tokenizer of {name} has no ChatML tokens, so astrabot's training template "
            "cannot render its prompts: pass --adapter-chat-template to use the template "
            "saved with it (rendered under a time and size bound)"
        )
    tokenizer.chat_template = CHATML_TRAINING_TEMPLATE
    if own and own != CHATML_TRAINING_TEMPLATE:
        return (
            f"Template ignored: {name} carries a chat template of its own; prompts use the "
            "one astrabot trains with (--adapter-chat-template uses the adapter's)."
        )
    return None


def render_prompt(tokenizer: Any, messages: Sequence[Mapping[str, str]]) -> str:
    """The conversation as prompt text, with the assistant's turn opened."""
    plain = [{"role": m["role"], "content": m["content"]} for m in messages]
    if tokenizer.chat_template == CHATML_TRAINING_TEMPLATE:
        return str(tokenizer.apply_chat_template(plain, tokenize=False, add_generation_prompt=True))
    return _render_bounded(tokenizer, plain)


def _address_space_now() -> int | None:
    """This process's virtual size in bytes (Linux), None where it cannot be read."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def _child(tokenizer: Any, messages: list[dict[str, str]], out: int) -> None:
    """Render in the forked child and write `O<text>` or `E<kind>` to `out`; never returns."""
    try:
        size = _address_space_now()
        if size is not None:
            limit = size + TEMPLATE_MEMORY_BYTES
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        data = str(text).encode("utf-8", "replace")
        payload = b"E" + b"too_large" if len(data) > MAX_PROMPT_BYTES else b"O" + data
    except BaseException as error:  # noqa: BLE001 - its kind only: a message may quote a prompt
        payload = b"E" + type(error).__name__.encode("ascii", "replace")[:80]
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(out, view) :]
    finally:
        os._exit(0)


def _render_bounded(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's coverage is not collected
        os.close(read_end)
        _child(tokenizer, messages, write_end)
    os.close(write_end)
    chunks: list[bytes] = []
    received = 0
    deadline = time.monotonic() + TEMPLATE_SECONDS
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read_end], [], [], left)[0]:
                raise _template_error("ran past its time limit")
            chunk = os.read(read_end, 1 << 16)
            if not chunk:
                break
            received += len(chunk)
            if received > MAX_PROMPT_BYTES + 1:
                raise _template_error("made a prompt past the size limit")
            chunks.append(chunk)
    finally:
        os.close(read_end)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    payload = b"".join(chunks)
    if payload[:1] == b"O":
        return payload[1:].decode("utf-8")
    kind = payload[1:].decode("ascii", "replace") or "the rendering process died"
    if kind == "too_large":
        raise _template_error("made a prompt past the size limit")
    if kind == "MemoryError":
        raise _template_error("ran past its memory limit")
    raise _template_error(f"failed ({kind})")


def _template_error(what: str) -> ChatTemplateError:
    return ChatTemplateError(
        f"the adapter's own chat template {what}: leave out --adapter-chat-template to use "
        "the template astrabot trains with"
    )


__all__ = [
    "MAX_PROMPT_BYTES",
    "TEMPLATE_SECONDS",
    "choose_chat_template",
    "render_prompt",
]
