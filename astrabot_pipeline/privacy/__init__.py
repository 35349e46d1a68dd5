"""Privacy behind the `anonymized_windows` asset (`anonymize_windows`): consent scope,
recognizers, pseudonymizer, validator, language counts, and purging the decoded plaintext.

Plain Python (no Dagster). Importing it hardens the process first (see settings), so
Presidio and tldextract never reach the network. The names below load their module on
first use, so `astrabot purge` (privacy/purge.py) starts without loading Presidio and
spaCy (~5 s).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from astrabot_pipeline.lazy_exports import lazy_exports
from astrabot_pipeline.settings import harden_process

harden_process()

if TYPE_CHECKING:
    from astrabot_pipeline.privacy.anonymized_windows import (
        AnonymizedWindows,
        PrivacyGate,
        anonymize_windows,
    )
    from astrabot_pipeline.privacy.anonymizer import (
        AnonymizationResult,
        ConversationAnonymizer,
        SpacyModelMissingError,
    )
    from astrabot_pipeline.privacy.canaries import load_canaries
    from astrabot_pipeline.privacy.known_contacts import ContactMatch, KnownContacts
    from astrabot_pipeline.privacy.language import LanguageReport, detect_languages
    from astrabot_pipeline.privacy.pseudonyms import (
        Pseudonymizer,
        SecretFileError,
        load_or_create_secret,
    )
    from astrabot_pipeline.privacy.purge import PurgedPath, PurgeError, purge_plaintext
    from astrabot_pipeline.privacy.scope import ScopeError, ScopePolicy, ScopeResult, apply_scope
    from astrabot_pipeline.privacy.validator import PrivacyReport, PrivacyValidator

_EXPORTS = {
    "anonymizer": ("AnonymizationResult", "ConversationAnonymizer", "SpacyModelMissingError"),
    "anonymized_windows": ("AnonymizedWindows", "PrivacyGate", "anonymize_windows"),
    "canaries": ("load_canaries",),
    "known_contacts": ("ContactMatch", "KnownContacts"),
    "language": ("LanguageReport", "detect_languages"),
    "pseudonyms": ("Pseudonymizer", "SecretFileError", "load_or_create_secret"),
    "purge": ("PurgeError", "PurgedPath", "purge_plaintext"),
    "scope": ("ScopeError", "ScopePolicy", "ScopeResult", "apply_scope"),
    "validator": ("PrivacyReport", "PrivacyValidator"),
}

__all__ = [
    "AnonymizationResult",
    "AnonymizedWindows",
    "ContactMatch",
    "ConversationAnonymizer",
    "KnownContacts",
    "LanguageReport",
    "PrivacyGate",
    "PrivacyReport",
    "PrivacyValidator",
    "Pseudonymizer",
    "PurgeError",
    "PurgedPath",
    "ScopeError",
    "ScopePolicy",
    "ScopeResult",
    "SecretFileError",
    "SpacyModelMissingError",
    "anonymize_windows",
    "apply_scope",
    "detect_languages",
    "load_canaries",
    "load_or_create_secret",
    "purge_plaintext",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
