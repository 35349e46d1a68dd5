"""A reply's body read from the raw stream and decoded here, never past a byte cap.

httpx decodes a body inside `iter_bytes`, a whole received chunk at a time and every
listed encoding in turn: `Content-Encoding: gzip, gzip` turns a 6.8 KB reply into 4 GiB
before any size check can run, and an encoding it does not know is skipped silently. So
the raw bytes are read (`iter_raw`) and inflated here with an output bound: the body, as
sent and as decoded, stays within `max_bytes`. One layer of gzip or deflate is read (what
we ask for in Accept-Encoding); stacked or other encodings are refused.
"""

from __future__ import annotations

import zlib

import httpx

from astrabot_pipeline.enrichment.errors import (
    CorruptEncodingError,
    ReplyTooLargeError,
    UnsupportedEncodingError,
)

ACCEPT_ENCODING = "gzip, deflate"
_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}
_NEXT_STEP = "the lookup goes to the next instance; if this is your own instance, check it"


class _Identity:
    def decode(self, data: bytes, room: int) -> bytes:
        if len(data) > room:
            raise _too_large(room)
        return data

    def finish(self) -> None:
        pass


class _Inflate:
    """One zlib stream, inflated at most `room + 1` bytes at a time so a bomb stops at the cap."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._stream = zlib.decompressobj(_WBITS[encoding])
        self._fed = False

    def decode(self, data: bytes, room: int) -> bytes:
        if self._stream.eof:
            return b""  # bytes after the end of the stream are not part of the page
        try:
            out = self._stream.decompress(data, room + 1)
        except zlib.error:
            if self.encoding != "deflate" or self._fed:
                raise self._corrupt() from None
            # Some servers send raw deflate without the zlib header (as httpx, accept it).
            self._stream = zlib.decompressobj(-zlib.MAX_WBITS)
            self._fed = True
            return self.decode(data, room)
        self._fed = True
        if len(out) > room:
            raise _too_large(room)
        return out

    def finish(self) -> None:
        if self._fed and not self._stream.eof:
            raise self._corrupt()

    def _corrupt(self) -> CorruptEncodingError:
        return CorruptEncodingError(
            f"a Nitter instance's reply is not a complete {self.encoding} stream, though its "
            f"Content-Encoding says so: {_NEXT_STEP}"
        )


def _too_large(cap: int) -> ReplyTooLargeError:
    return ReplyTooLargeError(
        f"a Nitter instance's reply holds more than {cap:,} bytes (as sent or decoded), far "
        f"more than a status page: {_NEXT_STEP}"
    )


def _decoder(encodings: list[str]) -> _Identity | _Inflate:
    layers = [e.strip().lower() for e in encodings if e.strip().lower() not in ("", "identity")]
    if len(layers) > 1:
        raise UnsupportedEncodingError(
            f"a Nitter instance's reply has {len(layers)} content encodings stacked; only one "
            f"layer of {ACCEPT_ENCODING} is read (stacked layers let a few KB decode to "
            f"gigabytes): {_NEXT_STEP}"
        )
    if not layers:
        return _Identity()
    if layers[0] not in _WBITS:
        raise UnsupportedEncodingError(
            f"a Nitter instance's reply has a content encoding other than the {ACCEPT_ENCODING} "
            f"we ask for: {_NEXT_STEP}"
        )
    return _Inflate(layers[0])


def read_body(response: httpx.Response, max_bytes: int) -> bytes:
    """The response's body, decoded; raises a `NitterReplyError` past `max_bytes` (sent or
    decoded) or for an encoding that is not exactly one of ACCEPT_ENCODING's."""
    declared = response.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    decoder = _decoder(response.headers.get_list("content-encoding", split_commas=True))
    body, sent = bytearray(), 0
    for chunk in response.iter_raw():
        sent += len(chunk)
        if sent > max_bytes:
            raise _too_large(max_bytes)
        body += decoder.decode(chunk, max_bytes - len(body))
    decoder.finish()
    return bytes(body)
