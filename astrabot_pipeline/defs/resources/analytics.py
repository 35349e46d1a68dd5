"""Settings of the conversation analytics assets."""

import dagster as dg


class ConversationAnalyticsResource(dg.ConfigurableResource):
    """Settings shared by the conversation analytics (`window_profiles`,
    `relationship_dynamics`): one time zone for both, so their clock times agree."""

    time_zone: str = ""  # an IANA name such as Europe/Berlin; empty: the machine's zone
