"""Privacy behind the `anonymized_windows` asset: consent scope, recognizers, pseudonymizer,
validator, language counts, and purging the decoded plaintext.

Plain Python (no Dagster). Importing it hardens the process first (see settings), so
Presidio and tldextract never reach the network. The names below load their module on
first use, so `astrabot purge` (privacy/purge.py) starts without loading Presidio and
spaCy (~5 s).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from astrabot_pipeline.settings import harden_process

harden_process()

if TYPE_CHECKING:
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
    "canaries": ("load_canaries",),
    "known_contacts": ("ContactMatch", "KnownContacts"),
    "language": ("LanguageReport", "detect_languages"),
    "pseudonyms": ("Pseudonymizer", "SecretFileError", "load_or_create_secret"),
    "purge": ("PurgeError", "PurgedPath", "purge_plaintext"),
    "scope": ("ScopeError", "ScopePolicy", "ScopeResult", "apply_scope"),
    "validator": ("PrivacyReport", "PrivacyValidator"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "AnonymizationResult",
    "ContactMatch",
    "ConversationAnonymizer",
    "KnownContacts",
    "LanguageReport",
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
    "apply_scope",
    "detect_languages",
    "load_canaries",
    "load_or_create_secret",
    "purge_plaintext",
]


def __getattr__(name: str) -> object:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
