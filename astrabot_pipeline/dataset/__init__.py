"""Training-example builders (conversational, adaptive, burst), filters, splits and export."""

from astrabot_pipeline.dataset.builder import (
    EXAMPLE_KINDS,
    HistoryTooThinError,
    MixedDataset,
    NoExamplesError,
    TrainingDataCreator,
)
from astrabot_pipeline.dataset.canaries import (
    PlantedCanary,
    plant_canaries,
    read_canaries,
    write_canaries,
)
from astrabot_pipeline.dataset.export import dataset_card, export_jsonl
from astrabot_pipeline.dataset.filters import FilterCounts, filter_examples
from astrabot_pipeline.dataset.records import records_from_frame
from astrabot_pipeline.dataset.reply_lines import reply_line_cap
from astrabot_pipeline.dataset.split import SPLITS, assign_splits, held_out_sample

__all__ = [
    "EXAMPLE_KINDS",
    "SPLITS",
    "FilterCounts",
    "HistoryTooThinError",
    "MixedDataset",
    "NoExamplesError",
    "PlantedCanary",
    "TrainingDataCreator",
    "assign_splits",
    "dataset_card",
    "export_jsonl",
    "filter_examples",
    "held_out_sample",
    "plant_canaries",
    "read_canaries",
    "records_from_frame",
    "reply_line_cap",
    "write_canaries",
]
