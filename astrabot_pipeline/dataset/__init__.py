"""Training-example builders (conversational, adaptive, burst) and leak-free splits."""

from astrabot_pipeline.dataset.builder import EXAMPLE_KINDS, TrainingDataCreator
from astrabot_pipeline.dataset.records import records_from_frame
from astrabot_pipeline.dataset.split import assign_splits

__all__ = ["EXAMPLE_KINDS", "TrainingDataCreator", "assign_splits", "records_from_frame"]
