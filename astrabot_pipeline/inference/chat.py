"""A terminal conversation with the tuned model: the model writes as the backup owner
(the assistant), the person at the keyboard writes the other side.

The conversation lives in memory only: it is never logged or saved, and `/reset` forgets
it. The model's text is shown with control characters replaced, so a reply can never
drive the terminal (escape sequences).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import TextIO

from astrabot_pipeline.generation import GenerationSettings
from astrabot_pipeline.inference.adapter import LoadedModel
from astrabot_pipeline.inference.errors import PromptTooLongError
from astrabot_pipeline.inference.generation import Reply, generate_reply

RESET_COMMAND = "/reset"
QUIT_COMMANDS = ("/quit", "/exit")
HELP_COMMAND = "/help"
YOU_PROMPT = "you: "
MODEL_LABEL = "model: "
HELP_TEXT = (
    "Type a message and press Enter; the model answers as the backup owner. "
    "/reset starts over, /quit (or Ctrl-D) leaves."
)
# C0 and C1 control characters other than newline and tab, and DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` safe to write to a terminal: control characters become U+FFFD."""
    return _CONTROL.sub("\ufffd", text)


class Conversation:
    """The messages so far, as ChatML `messages` (an optional system message first)."""

    def __init__(self, system: str | None = None) -> None:
        self.system = system
        self.messages: list[dict[str, str]] = []
        self.reset()

    def reset(self) -> None:
        self.messages = [{"role": "system", "content": self.system}] if self.system else []

    def ask(
        self,
        loaded: LoadedModel,
        text: str,
        settings: GenerationSettings,
        *,
        on_text: Callable[[str], None] | None = None,
    ) -> Reply:
        """Add the user's `text`, generate the model's answer and add it too.

        On any failure the conversation is left as it was before the call.
        """
        messages = [*self.messages, {"role": "user", "content": text}]
        reply = generate_reply(loaded, messages, settings, on_text=on_text)
        self.messages = [*messages, {"role": "assistant", "content": reply.text}]
        return reply


def answer_once(
    loaded: LoadedModel,
    prompt: str,
    settings: GenerationSettings,
    *,
    system: str | None = None,
    out: TextIO | None = None,
) -> Reply:
    """Print the model's answer to `prompt` (streamed as it is generated) and a newline."""
    out = out or sys.stdout

    def show(piece: str) -> None:
        out.write(printable(piece))
        out.flush()

    reply = Conversation(system).ask(loaded, prompt, settings, on_text=show)
    out.write("\n")
    out.flush()
    return reply


def run_chat(
    loaded: LoadedModel,
    settings: GenerationSettings,
    *,
    system: str | None = None,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
    notes: TextIO | None = None,
) -> None:
    """Read lines from `stdin` until `/quit` or end of input, answering each.

    Prompts and labels are shown only when `stdin` is a terminal (piped input gets the
    answers alone, one per line). A sampled (temperature > 0) chat with a seed uses
    seed, seed + 1, ... for its turns, so a whole session replays the same way.
    """
    stdin, out, notes = stdin or sys.stdin, out or sys.stdout, notes or sys.stderr
    interactive = stdin.isatty()
    conversation = Conversation(system)
    if interactive:
        notes.write(HELP_TEXT + "\n")
        notes.flush()
    turn = 0
    while True:
        if interactive:
            out.write(YOU_PROMPT)
            out.flush()
        line = stdin.readline()
        if not line:  # Ctrl-D / end of input
            if interactive:
                out.write("\n")
            return
        text = line.rstrip("\r\n")
        command = text.strip().lower()
        if not command:
            continue
        if command in QUIT_COMMANDS:
            return
        if command == RESET_COMMAND:
            conversation.reset()
            notes.write("(conversation cleared)\n")
            notes.flush()
            continue
        if command == HELP_COMMAND:
            notes.write(HELP_TEXT + "\n")
            notes.flush()
            continue
        turn_settings = settings
        if settings.seed is not None:
            turn_settings = replace(settings, seed=settings.seed + turn)
        if interactive:
            out.write(MODEL_LABEL)
            out.flush()

        def show(piece: str) -> None:
            out.write(printable(piece))
            out.flush()

        try:
            reply = conversation.ask(loaded, text, turn_settings, on_text=show)
        except PromptTooLongError as error:
            out.write("\n")
            notes.write(f"(not sent: {error})\n")
            notes.flush()
            continue
        out.write("\n")
        out.flush()
        if reply.dropped_messages:
            notes.write(
                f"(the {reply.dropped_messages} oldest messages no longer fit the model's "
                "context and were left out)\n"
            )
            notes.flush()
        turn += 1


__all__ = ["Conversation", "answer_once", "printable", "run_chat"]
