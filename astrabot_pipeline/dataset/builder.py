"""Chat-format training examples from anonymized conversation windows.

The backup owner is the assistant; everyone else in the thread is the user. Three
kinds of example feed the three training stages:
- conversational: the owner's turn with up to `max_context_turns` turns of context;
- adaptive: the same, with a system prompt describing the relationship, the
  conversation's topic and tone, and the owner's habits in that thread (measured by
  `relationship_dynamics` and `window_profiles`; see adaptive_prompt.py);
- burst: one incoming turn answered by the owner's first measured burst (consecutive
  messages each within the burst gap, as conversation_windows measured them), its
  messages kept as separate lines.
Group chats prefix other people's lines with who wrote them (`sender_pseudonym`), and a
resolved tweet is shown next to the message that shared it. A reply that quotes, mentions
or addresses someone takes its context from the message it answers rather than from the
turns just before it (reply_context.py).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack

import pandas as pd

from astrabot_pipeline.conversations.addressing import MENTIONED_COLUMN
from astrabot_pipeline.dataset.adaptive_prompt import DEFAULT_SYSTEM_PROMPT, adaptive_prompts
from astrabot_pipeline.dataset.filters import DEFAULT_TRIVIAL_CAP, FilterCounts, filter_examples
from astrabot_pipeline.dataset.reply_context import Line, answered_position
from astrabot_pipeline.dataset.split import (
    DEFAULT_TEST_FRACTION,
    DEFAULT_VALIDATION_FRACTION,
    MIN_WINDOWS,
    AuditSlice,
    ContactAudit,
    TestSliceSize,
    assign_splits,
)
from astrabot_pipeline.errors import AstrabotError

EXAMPLE_KINDS = ("conversational", "adaptive", "burst")

EXAMPLE_COLUMNS = (
    "example_id",
    "kind",
    "window_id",
    "thread_id",
    "window_start",
    "split",
    "messages",
)
DEFAULT_MAX_CONTEXT_TURNS = 6  # turns of context before the owner's turn (conversational)
# The context before a reply is trimmed from the left (oldest first) to this many
# characters, so the reply being learned is never cut; training then truncates to its
# token budget the same way.
DEFAULT_MAX_CONTEXT_CHARS = 2_000
MIN_TRAINING_EXAMPLES = 20  # fewer owner replies than this teach a model nothing


class NoExamplesError(AstrabotError, ValueError):
    """No training example could be built from the windows (no owner replies in them)."""


class HistoryTooThinError(NoExamplesError):
    """There are examples, but too few (or in too few windows) to train and evaluate."""


@dataclass(frozen=True)
class _Turn:
    is_owner: bool
    text: str
    burst_size: int
    first_burst: str = ""  # the lines of the turn's first measured burst (owner turns)
    first_line: int = 0  # the index of the turn's first message among its window's lines


@dataclass(frozen=True)
class _Window:
    thread_id: int
    turns: list[_Turn]
    lines: list[Line]


@dataclass
class MixedDataset:
    """Examples with their split, what the filters dropped, and families left out (why)."""

    examples: pd.DataFrame
    filtered: FilterCounts = field(default_factory=FilterCounts)
    skipped_families: dict[str, str] = field(default_factory=dict)
    windows: int = 0
    # Why no window was held out for the membership audit (None: some were).
    no_audit_reason: str | None = None
    # The contact-level audit: the contacts held out, or why none are (None: not asked).
    held_out_contacts: int = 0
    no_contact_audit_reason: str | None = None


class CombineOptions(TypedDict, total=False):
    """The keyword options of `TrainingDataCreator.combine`."""

    validation_fraction: float
    test_fraction: float
    trivial_cap: float
    seed: int
    test_slice: TestSliceSize
    audit: AuditSlice
    contact_audit: ContactAudit
    one_to_one_threads: Collection[Any]


class TrainingDataCreator:
    """Builds conversational, adaptive and burst examples and combines them into splits."""

    def __init__(
        self,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        max_context_turns: int = DEFAULT_MAX_CONTEXT_TURNS,
        min_burst_messages: int = 2,
        text_column: str = "text",
        max_context_chars: int = DEFAULT_MAX_CONTEXT_CHARS,
    ) -> None:
        self.system_prompt = system_prompt
        self.max_context_turns = max_context_turns
        self.min_burst_messages = min_burst_messages
        self.text_column = text_column
        self.max_context_chars = max_context_chars
        self._window_starts: dict[str, pd.Timestamp] = {}
        # The three families read the same windows: group them into turns once per frame.
        self._turns_cache: tuple[pd.DataFrame, dict[str, _Window]] | None = None

    def _turns_by_window(self, windows: pd.DataFrame) -> dict[str, _Window]:
        """Each window's turns, computed once for the same `windows` frame object."""
        if self._turns_cache is None or self._turns_cache[0] is not windows:
            self._turns_cache = (windows, self._group_turns(windows))
        return self._turns_cache[1]

    def _group_turns(self, windows: pd.DataFrame) -> dict[str, _Window]:
        """Each window's messages as lines, and its consecutive same-side lines as turns."""
        frame = windows[windows[self.text_column].fillna("").str.strip().ne("")]
        frame = frame.sort_values(["window_id", "position_in_window"])
        if "sent_at" in frame.columns:
            starts = frame.groupby("window_id")["sent_at"].min()
            self._window_starts.update({str(k): v for k, v in starts.items()})
        lines = self._lines(frame)
        # Bursts as conversation_windows measured them (gap <= burst gap, one sender);
        # without that column every turn counts as one burst.
        bursts = frame["burst_id"] if "burst_id" in frame.columns else frame["window_id"]
        frame = frame.assign(_line=lines.str.strip(), _burst=bursts)
        return {
            str(window_id): _Window(
                int(group["thread_id"].iloc[0]),
                *_group_lines(_window_lines(group, self.text_column)),
            )
            for window_id, group in frame.groupby("window_id", sort=True)
        }

    def _context(self, window: _Window, index: int) -> list[_Turn]:
        """The turns a reply (turn `index`) answers: up to the message it quotes, mentions
        or addresses where the history says so, else the turns just before it."""
        reply_at = window.turns[index].first_line
        earlier = window.lines[:reply_at]
        answered = answered_position(window.lines[reply_at], earlier)
        if answered is None or answered == len(earlier) - 1:
            before = window.turns[:index]
        else:
            before = _group_lines(earlier[: answered + 1])[0]
        return before[-self.max_context_turns :] if self.max_context_turns else []

    def _dialogue_examples(
        self, windows: pd.DataFrame, kind: str, system_prompts: dict[str, str] | None = None
    ) -> list[dict]:
        examples = []
        for window_id, window in self._turns_by_window(windows).items():
            thread_id = window.thread_id
            for index, turn in enumerate(window.turns):
                if not turn.is_owner or index == 0:
                    continue
                context = self._trimmed(self._context(window, index))
                if not context:
                    continue
                prompt = (system_prompts or {}).get(window_id, self.system_prompt)
                messages = [{"role": "system", "content": prompt}]
                messages += [
                    {"role": "assistant" if t.is_owner else "user", "content": t.text}
                    for t in [*context, turn]
                ]
                examples.append(_example(kind, window_id, thread_id, index, messages))
        return examples

    def _lines(self, frame: pd.DataFrame) -> pd.Series:
        """Each message's line of its turn: in a group chat (more than one other person in
        the thread) other people's lines start with who wrote them (`sender_pseudonym`,
        the surrogate the text itself uses), so the model sees who said what."""
        texts = frame[self.text_column].astype(str)
        if "tweet_text" in frame.columns:
            # A resolved tweet is context next to the message that shared it.
            tweets = frame["tweet_text"].where(frame["tweet_text"].fillna("").str.strip().ne(""))
            texts = texts.where(tweets.isna(), texts + "\n[tweet: " + tweets.fillna("") + "]")
        if "sender_pseudonym" not in frame.columns or "sender_id" not in frame.columns:
            return texts
        people = frame.groupby("thread_id")["sender_id"].transform("nunique")
        named = (
            (people > 2) & ~frame["is_outgoing"].astype(bool) & frame["sender_pseudonym"].notna()
        )
        prefixed = frame["sender_pseudonym"].astype(str) + ": " + texts.str.strip()
        return texts.where(~named, prefixed)

    def _trimmed(self, context: list[_Turn]) -> list[_Turn]:
        """Drop the oldest turns beyond the character budget (the newest turn keeps its end),
        then any leading owner turns: a dialogue opens with the user."""
        kept: list[_Turn] = []
        budget = self.max_context_chars
        for turn in reversed(context):
            if budget <= 0:
                break
            if len(turn.text) > budget:
                turn = _Turn(turn.is_owner, turn.text[-budget:], turn.burst_size)
            kept.insert(0, turn)
            budget -= len(turn.text)
        while kept and kept[0].is_owner:
            kept = kept[1:]
        return kept

    def create_conversational_examples(self, windows: pd.DataFrame) -> pd.DataFrame:
        return _frame(self._dialogue_examples(windows, "conversational"), self._window_starts)

    def create_adaptive_examples(
        self, windows: pd.DataFrame, dynamics: pd.DataFrame, profiles: pd.DataFrame
    ) -> pd.DataFrame:
        """Examples whose system prompt describes the relationship (the thread's row of
        `relationship_dynamics`) and the conversation (the window's row of
        `window_profiles`): see dataset/adaptive_prompt.py."""
        prompts = adaptive_prompts(dynamics, profiles)
        return _frame(self._dialogue_examples(windows, "adaptive", prompts), self._window_starts)

    def create_burst_examples(self, windows: pd.DataFrame) -> pd.DataFrame:
        examples = []
        for window_id, window in self._turns_by_window(windows).items():
            thread_id, turns = window.thread_id, window.turns
            for index in range(1, len(turns)):
                turn = turns[index]
                previous = (self._context(window, index) or turns[index - 1 : index])[-1]
                if (
                    turn.is_owner
                    and turn.first_burst.count("\n") + 1 >= self.min_burst_messages
                    and not previous.is_owner
                ):
                    (prompt,) = self._trimmed([previous]) or [previous]
                    messages = [
                        {
                            "role": "system",
                            "content": self.system_prompt + " Send several short messages.",
                        },
                        {"role": "user", "content": prompt.text},
                        {"role": "assistant", "content": turn.first_burst},
                    ]
                    examples.append(_example("burst", window_id, thread_id, index, messages))
        return _frame(examples, self._window_starts)

    def all_families(
        self, windows: pd.DataFrame, dynamics: pd.DataFrame, profiles: pd.DataFrame
    ) -> list[pd.DataFrame]:
        """The examples of every family (EXAMPLE_KINDS order), ready for `combine`."""
        return [
            self.create_conversational_examples(windows),
            self.create_adaptive_examples(windows, dynamics, profiles),
            self.create_burst_examples(windows),
        ]

    def combine(
        self,
        *datasets: pd.DataFrame,
        validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
        test_fraction: float = DEFAULT_TEST_FRACTION,
        trivial_cap: float = DEFAULT_TRIVIAL_CAP,
        seed: int = 0,
        test_slice: TestSliceSize | None = None,
        audit: AuditSlice | None = None,
        contact_audit: ContactAudit | None = None,
        one_to_one_threads: Collection[Any] = (),
    ) -> MixedDataset:
        """Filter, split by window and time, and leave out families too small to train.

        `test_slice` (default `TestSliceSize()`) grows the test slice of a long history
        until it is big enough to decide; `audit` (default `AuditSlice(seed=seed)`) then
        holds a random sample of the training windows out for the membership audit. With
        `contact_audit`, a random sample of the contacts of `one_to_one_threads` is held
        out first, every window of theirs ("contact_audit"), for the contact-level audit.

        A family needs training and validation examples to train its stage; one without
        is reported in `skipped_families` (its examples stay out of every split). Raises
        HistoryTooThinError, with the counts, when the whole history is too thin.
        """
        combined = pd.concat([d for d in datasets if len(d)], ignore_index=True)
        if combined.empty:
            raise NoExamplesError(
                "no training examples could be built: the windows hold no owner replies "
                "(check that the backup owner was identified and windows are not empty)"
            )
        combined, filtered = filter_examples(combined, trivial_cap=trivial_cap, seed=seed)
        windows = combined["window_id"].nunique()
        if len(combined) < MIN_TRAINING_EXAMPLES or windows < MIN_WINDOWS:
            raise HistoryTooThinError(
                f"the history is too thin to train on: {len(combined)} usable owner "
                f"replies in {windows} conversation windows; at least "
                f"{MIN_TRAINING_EXAMPLES} replies in {MIN_WINDOWS} windows are needed "
                "(widen the scope, or add an older backup)"
            )
        # One owner reply can feed an example of each family: count the replies apart.
        reply_ids = combined["example_id"].str.split(":", n=1).str[1]
        held: list[Any] = []
        no_contact_reason = None
        if contact_audit is not None:
            one_to_one = combined["thread_id"].isin(list(one_to_one_threads))
            per_contact = reply_ids[one_to_one].groupby(combined["thread_id"][one_to_one]).nunique()
            held, no_contact_reason = contact_audit.held_out(per_contact.to_dict())
        held_rows = combined["thread_id"].isin(held)
        rest = combined[~held_rows]
        by_window = assign_splits(
            rest.groupby("window_id")["window_start"].min(),
            validation_fraction,
            test_fraction,
            examples_per_window=rest.groupby("window_id").size(),
            owner_replies=int(reply_ids[~held_rows].nunique()),
            test_slice=test_slice,
        )
        by_window, no_audit_reason = (audit or AuditSlice(seed=seed)).carve(by_window)
        combined["split"] = combined["window_id"].map(by_window).astype("string")
        combined.loc[held_rows, "split"] = "contact_audit"
        skipped: dict[str, str] = {}
        for kind, family in combined.groupby("kind", sort=True):
            present = set(family["split"])
            missing = [split for split in ("train", "validation") if split not in present]
            if missing:
                skipped[str(kind)] = (
                    f"{len(family)} example(s) in {family['window_id'].nunique()} window(s), "
                    f"none in {' or '.join(missing)}"
                )
        combined = combined[~combined["kind"].isin(list(skipped))]
        examples = combined.sort_values(["window_start", "example_id"], kind="stable")
        return MixedDataset(
            examples.reset_index(drop=True)[list(EXAMPLE_COLUMNS)],
            filtered,
            skipped,
            windows,
            no_audit_reason,
            len(held),
            no_contact_reason,
        )

    def combine_datasets(
        self, *datasets: pd.DataFrame, **options: Unpack[CombineOptions]
    ) -> pd.DataFrame:
        """All examples in one frame with their `split` (see `combine`)."""
        return self.combine(*datasets, **options).examples


def _optional_int(value: object) -> int | None:
    return None if pd.isna(value) else int(value)  # type: ignore[call-overload]


def _window_lines(group: pd.DataFrame, text_column: str) -> list[Line]:
    """A window's messages (in order) as Lines, with the ids reply_context.py reads."""

    def column(name: str) -> list:
        return group[name].tolist() if name in group.columns else [None] * len(group)

    return [
        Line(
            text=text,
            is_owner=bool(is_owner),
            burst=burst,
            message_id=_optional_int(message_id),
            sender_id=_optional_int(sender_id),
            sender=None if is_owner or pd.isna(sender) else str(sender),
            quote_id=_optional_int(quote_id),
            mentioned_id=_optional_int(mentioned_id),
            body=str(body),
        )
        for text, is_owner, burst, message_id, sender_id, sender, quote_id, mentioned_id, body in zip(
            group["_line"],
            group["is_outgoing"],
            group["_burst"],
            column("message_id"),
            column("sender_id"),
            column("sender_pseudonym"),
            column("quote_message_id"),
            column(MENTIONED_COLUMN),
            group[text_column],
            strict=True,
        )
    ]


def _group_lines(lines: list[Line]) -> tuple[list[_Turn], list[Line]]:
    """Consecutive same-side lines merged into turns (and the lines, unchanged)."""
    turns: list[_Turn] = []
    start = 0
    for position in range(1, len(lines) + 1):
        if position == len(lines) or lines[position].is_owner != lines[start].is_owner:
            turns.append(_turn(lines[start:position], start))
            start = position
    return turns, lines


def _turn(lines: list[Line], first_line: int) -> _Turn:
    """One side's consecutive lines as a turn; owner turns remember their first burst."""
    first = [line.text for line in lines if line.burst == lines[0].burst]
    return _Turn(
        lines[0].is_owner,
        "\n".join(line.text for line in lines),
        len(lines),
        "\n".join(first),
        first_line,
    )


def _example(kind: str, window_id: str, thread_id: int, turn: int, messages: list[dict]) -> dict:
    return {
        "example_id": f"{kind}:{window_id}:{turn}",
        "kind": kind,
        "window_id": window_id,
        "thread_id": thread_id,
        "window_start": None,
        "split": None,
        "messages": messages,
    }


def _frame(examples: list[dict], starts: dict[str, pd.Timestamp]) -> pd.DataFrame:
    frame = pd.DataFrame(examples, columns=list(EXAMPLE_COLUMNS))
    frame["window_start"] = pd.to_datetime(frame["window_id"].map(starts), utc=True)
    return frame
