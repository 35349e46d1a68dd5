"""Why a Nitter instance's reply is not read: each error's `reason` is its name in the run's
failure counts (`EnrichmentStats.failed_requests`), and the lookup goes to the next instance
like after any other bad answer."""

from __future__ import annotations

from typing import ClassVar

from astrabot_pipeline.errors import AstrabotError


class NitterReplyError(AstrabotError):
    """A reply the client refuses to read; the message never quotes the reply's bytes."""

    reason: ClassVar[str] = "bad_reply"


class ReplyTooLargeError(NitterReplyError):
    """The body, as sent or decoded, is larger than the cap (`max_response_bytes`)."""

    reason = "too_large"


class UnsupportedEncodingError(NitterReplyError):
    """A Content-Encoding the client does not read, or several stacked."""

    reason = "unsupported_encoding"


class CorruptEncodingError(NitterReplyError):
    """The body is not the gzip or deflate stream its Content-Encoding names, or is cut."""

    reason = "corrupt_encoding"
