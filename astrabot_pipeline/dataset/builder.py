"""Chat-format training examples from anonymized conversation windows.

The backup owner is the assistant; everyone else in the thread is the user. Three
kinds of example feed the three training stages:
- conversational: the owner's turn with up to `max_context_turns` turns of context;
- adaptive: the same, with a system prompt describing the conversation's dynamics
  (group or one-to-one, how fast and how long the owner usually replies);
- burst: one incoming turn answered by a burst of several owner messages.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from astrabot_pipeline.dataset.split import DEFAULT_VALIDATION_FRACTION, assign_splits
from astrabot_pipeline.errors import AstrabotError

EXAMPLE_KINDS = ("conversational", "adaptive", "burst")
DEFAULT_SYSTEM_PROMPT = "You are chatting with friends on Signal. Reply the way you always do."
EXAMPLE_COLUMNS = ("example_id", "kind", "window_id", "thread_id", "split", "messages")


class NoExamplesError(AstrabotError, ValueError):
    """No training example could be built from the windows (no owner replies in them)."""


@dataclass(frozen=True)
class _Turn:
    is_owner: bool
    text: str
    burst_size: int


class TrainingDataCreator:
    """Builds conversational, adaptive and burst examples and combines them into splits."""

    def __init__(
        self,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        max_context_turns: int = 6,
        min_burst_messages: int = 2,
        text_column: str = "text",
    ) -> None:
        self.system_prompt = system_prompt
        self.max_context_turns = max_context_turns
        self.min_burst_messages = min_burst_messages
        self.text_column = text_column

    def _turns_by_window(self, windows: pd.DataFrame) -> dict[str, tuple[int, list[_Turn]]]:
        """Merge each window's consecutive same-side messages into turns."""
        frame = windows[windows[self.text_column].fillna("").str.strip().ne("")]
        frame = frame.sort_values(["window_id", "position_in_window"])
        turns: dict[str, tuple[int, list[_Turn]]] = {}
        for window_id, group in frame.groupby("window_id", sort=True):
            window_turns: list[_Turn] = []
            texts: list[str] = []
            side: bool | None = None
            for is_owner, text in zip(group["is_outgoing"], group[self.text_column], strict=True):
                if side is not None and is_owner != side:
                    window_turns.append(_Turn(side, "\n".join(texts), len(texts)))
                    texts = []
                side = bool(is_owner)
                texts.append(text.strip())
            if texts:
                window_turns.append(_Turn(bool(side), "\n".join(texts), len(texts)))
            turns[str(window_id)] = (int(group["thread_id"].iloc[0]), window_turns)
        return turns

    def _dialogue_examples(
        self, windows: pd.DataFrame, kind: str, system_prompts: dict[int, str] | None = None
    ) -> list[dict]:
        examples = []
        for window_id, (thread_id, turns) in self._turns_by_window(windows).items():
            for index, turn in enumerate(turns):
                if not turn.is_owner or index == 0:
                    continue
                context = turns[max(0, index - self.max_context_turns) : index]
                while context and context[0].is_owner:
                    context = context[1:]  # a dialogue opens with the user
                if not context:
                    continue
                prompt = (system_prompts or {}).get(thread_id, self.system_prompt)
                messages = [{"role": "system", "content": prompt}]
                messages += [
                    {"role": "assistant" if t.is_owner else "user", "content": t.text}
                    for t in [*context, turn]
                ]
                examples.append(_example(kind, window_id, thread_id, index, messages))
        return examples

    def create_conversational_examples(self, windows: pd.DataFrame) -> pd.DataFrame:
        return _frame(self._dialogue_examples(windows, "conversational"))

    def create_adaptive_examples(
        self, windows: pd.DataFrame, dynamics: pd.DataFrame
    ) -> pd.DataFrame:
        """Examples whose system prompt describes the thread's relationship dynamics."""
        prompts = {
            int(row.thread_id): _adaptive_prompt(row) for row in dynamics.itertuples(index=False)
        }
        return _frame(self._dialogue_examples(windows, "adaptive", prompts))

    def create_burst_examples(self, windows: pd.DataFrame) -> pd.DataFrame:
        examples = []
        for window_id, (thread_id, turns) in self._turns_by_window(windows).items():
            for index in range(1, len(turns)):
                turn, previous = turns[index], turns[index - 1]
                if (
                    turn.is_owner
                    and turn.burst_size >= self.min_burst_messages
                    and not previous.is_owner
                ):
                    messages = [
                        {
                            "role": "system",
                            "content": self.system_prompt + " Send several short messages.",
                        },
                        {"role": "user", "content": previous.text},
                        {"role": "assistant", "content": turn.text},
                    ]
                    examples.append(_example("burst", window_id, thread_id, index, messages))
        return _frame(examples)

    def combine_datasets(
        self,
        *datasets: pd.DataFrame,
        validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
        seed: int = 0,
    ) -> pd.DataFrame:
        """All examples in one frame with a `split` column assigned per window."""
        combined = pd.concat([d for d in datasets if len(d)], ignore_index=True)
        if combined.empty:
            raise NoExamplesError(
                "no training examples could be built: the windows hold no owner replies "
                "(check that the backup owner was identified and windows are not empty)"
            )
        combined["split"] = assign_splits(combined["window_id"], validation_fraction, seed)
        return combined.sort_values("example_id").reset_index(drop=True)[list(EXAMPLE_COLUMNS)]


def _example(kind: str, window_id: str, thread_id: int, turn: int, messages: list[dict]) -> dict:
    return {
        "example_id": f"{kind}:{window_id}:{turn}",
        "kind": kind,
        "window_id": window_id,
        "thread_id": thread_id,
        "split": None,
        "messages": messages,
    }


def _frame(examples: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(examples, columns=list(EXAMPLE_COLUMNS))


def _adaptive_prompt(dynamics_row) -> str:
    setting = "a group chat" if dynamics_row.participants > 2 else "a one-to-one chat"
    reply = dynamics_row.owner_median_reply_seconds
    pace = "within a minute" if reply == reply and reply < 60 else "after a while"
    length = dynamics_row.owner_mean_message_chars
    size = "short" if length == length and length < 40 else "longer"
    return (
        f"You are chatting in {setting} on Signal. You usually reply {pace}, "
        f"in {size} messages. Reply the way you always do."
    )
