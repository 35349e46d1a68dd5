"""Resources and the IO manager, one module per concern, bound to environment variables
and defaults by `pipeline_resources`."""

import os
from typing import cast

import dagster as dg

from astrabot_pipeline import settings
from astrabot_pipeline.defs.resources.analytics import ConversationAnalyticsResource
from astrabot_pipeline.defs.resources.backup import SignalBackupResource
from astrabot_pipeline.defs.resources.decoder import DecoderLauncher, DecoderLauncherResource
from astrabot_pipeline.defs.resources.io_manager import AstrabotIOManager
from astrabot_pipeline.defs.resources.nitter import NitterResource
from astrabot_pipeline.defs.resources.paths import AstrabotPathsResource
from astrabot_pipeline.defs.resources.training import TrainingResource
from astrabot_pipeline.signal.discovery import HASH_CACHE_FILE


def pipeline_resources() -> dict[str, dg.ConfigurableResource | dg.ConfigurableIOManager]:
    """Resources bound to the environment: data and backup folders, each secret as an
    EnvVar (bound only when set: plain inputs need none), the decoder launcher."""
    data_dir = str(settings.data_dir())
    nitter = settings.nitter_settings()
    secrets = {
        name: dg.EnvVar(value_env)
        for name, (value_env, _) in settings.SECRET_VARIABLES.items()
        if os.environ.get(value_env)
    }
    return {
        "paths": AstrabotPathsResource(data_dir=data_dir),
        "signal": SignalBackupResource(
            backup_dir=str(settings.backup_dir()),
            max_backup_bytes=settings.max_backup_bytes(),
            link_targets=settings.backup_link_targets(),
            hash_cache=str(settings.data_dir() / HASH_CACHE_FILE),
            **secrets,
        ),
        "decoder": DecoderLauncherResource(
            # pydantic checks the value against the Literal when the resource is built.
            launcher=cast(
                DecoderLauncher, os.environ.get(settings.DECODER_LAUNCHER_ENV) or "subprocess"
            )
        ),
        "nitter": NitterResource(enabled=nitter.enabled, instances=nitter.instances),
        "analytics": ConversationAnalyticsResource(
            time_zone=os.environ.get(settings.TIME_ZONE_ENV, "")
        ),
        "training": TrainingResource(budget=os.environ.get(settings.TRAIN_BUDGET_ENV, "")),
        "io_manager": AstrabotIOManager(base_dir=data_dir),
    }
