"""Privacy: recognizers, pseudonymizer and validator behind the `anonymized_windows` asset.

Plain Python (no Dagster). Importing it hardens the process first (see settings), so
Presidio and tldextract never reach the network.
"""

from astrabot_pipeline.settings import harden_process

harden_process()

from astrabot_pipeline.privacy.anonymizer import (  # noqa: E402
    AnonymizationResult,
    ConversationAnonymizer,
    SpacyModelMissingError,
)
from astrabot_pipeline.privacy.canaries import load_canaries  # noqa: E402
from astrabot_pipeline.privacy.known_contacts import ContactMatch, KnownContacts  # noqa: E402
from astrabot_pipeline.privacy.pseudonyms import (  # noqa: E402
    Pseudonymizer,
    SecretFileError,
    load_or_create_secret,
)
from astrabot_pipeline.privacy.validator import PrivacyReport, PrivacyValidator  # noqa: E402

__all__ = [
    "AnonymizationResult",
    "ContactMatch",
    "ConversationAnonymizer",
    "KnownContacts",
    "PrivacyReport",
    "PrivacyValidator",
    "Pseudonymizer",
    "SecretFileError",
    "SpacyModelMissingError",
    "load_canaries",
    "load_or_create_secret",
]
