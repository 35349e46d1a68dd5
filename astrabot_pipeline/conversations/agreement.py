"""Agreement of the topic and tone classifiers with hand-written labels.

A labelled set is JSON Lines, one message a line: {"text", "topic", "tone", "split"}, the
labels taken from `topic.TOPIC_LABELS` and `tone.TONE_LABELS`, `split` "dev" (looked at
while writing the word lists) or "heldout" (not). The repository's own set is
`astrabot_pipeline_tests/data/labelled_messages.jsonl` (invented messages).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from astrabot_pipeline.conversations.tone import TONE_LABELS, default_scorer, tone_labels
from astrabot_pipeline.conversations.topic import TOPIC_LABELS, default_classifier


@dataclass(frozen=True)
class Agreement:
    """How often the classifiers agree with the labels (no text: counts and ratios)."""

    messages: int
    topic_accuracy: float
    tone_accuracy: float
    tone_kappa: float  # Cohen's kappa: agreement beyond what the label frequencies give

    def to_metadata(self) -> dict[str, float | int]:
        return dict(self.__dict__)


def load_labelled_messages(path: Path) -> pd.DataFrame:
    """The labelled set as a frame (text, topic, tone, split), labels checked."""
    rows = [json.loads(line) for line in Path(path).read_text("utf-8").splitlines() if line]
    frame = pd.DataFrame(rows, columns=["text", "topic", "tone", "split"])
    unknown_topics = set(frame["topic"]) - set(TOPIC_LABELS)
    unknown_tones = set(frame["tone"]) - set(TONE_LABELS)
    if unknown_topics or unknown_tones:
        raise ValueError(
            f"{path}: labels outside the taxonomy: {sorted(unknown_topics | unknown_tones)}"
        )
    return frame


def labelled_agreement(labelled: pd.DataFrame) -> Agreement:
    """Topic accuracy, tone accuracy and tone kappa of the classifiers on `labelled`."""
    texts = labelled["text"].tolist()
    topics, _ = default_classifier().classify(texts)
    tones = tone_labels(default_scorer().compound(texts))
    return Agreement(
        messages=len(labelled),
        topic_accuracy=float(np.mean(topics == labelled["topic"].to_numpy())),
        tone_accuracy=float(np.mean(tones == labelled["tone"].to_numpy())),
        tone_kappa=cohen_kappa(labelled["tone"].to_numpy(), tones),
    )


def cohen_kappa(expected: np.ndarray, predicted: np.ndarray) -> float:
    """Cohen's kappa of two label sequences: (p_o - p_e) / (1 - p_e); 1.0 if p_e is 1."""
    expected = np.asarray(expected, dtype=object)
    predicted = np.asarray(predicted, dtype=object)
    if expected.size == 0:
        return float("nan")
    observed = float(np.mean(expected == predicted))
    labels = sorted(set(expected) | set(predicted))
    chance = sum(float(np.mean(expected == x)) * float(np.mean(predicted == x)) for x in labels)
    if chance >= 1.0:
        return 1.0
    return (observed - chance) / (1.0 - chance)
