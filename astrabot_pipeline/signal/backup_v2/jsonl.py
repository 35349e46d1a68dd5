"""Signal's plaintext export: a ZIP with `main.jsonl` (or a bare `main.jsonl`) of JSON frames.

Each line is one protobuf-JSON object (libsignal's jsonproto naming): first BackupInfo,
then Frames. Ids may be numbers or strings of digits and bytes are base64, both of which
the standard protobuf-JSON parser accepts. `strip_json_comments` also lets libsignal's
hand-written test cases (`//` comments, trailing commas) be read.

The export is untrusted input, read as bytes in bounded chunks: blank lines are skipped
at C speed, one line may hold at most `limits.MAX_FRAME_BYTES`, and a ZIP member may
inflate to at most `limits.decompressed_limit` of its compressed size (its declared size
is checked first, then the bytes actually inflated are counted). Every message names a
line as "line N of main.jsonl": N is the 1-based physical line, blank lines counted. A
UTF-8 byte-order mark at the very start is accepted.
"""

from __future__ import annotations

import codecs
import json
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from google.protobuf import json_format

from astrabot_pipeline.signal.backup_v2 import frames
from astrabot_pipeline.signal.backup_v2.errors import (
    CorruptBackupV2Error,
    CorruptExportLineError,
    DecompressionLimitError,
    FrameTooLargeError,
)
from astrabot_pipeline.signal.backup_v2.frames import FrameSource, ReadStats
from astrabot_pipeline.signal.backup_v2.limits import (
    MAX_FRAME_BYTES,
    MAX_JSON_VALUES,
    decompressed_limit,
    expansion_message,
)
from astrabot_pipeline.signal.proto_builder import DynamicMessage

MAIN_JSONL = "main.jsonl"
READ_CHUNK = 1 << 20
_NON_BLANK = re.compile(rb"[^ \t\r\n]")  # JSON whitespace is exactly these four
_ZIP_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError)


def strip_json_comments(text: str) -> str:
    """Remove `//` line comments and trailing commas outside of JSON strings."""
    out: list[str] = []
    in_string = escaped = False
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
            out.append(char)
        elif char == "/" and text.startswith("//", index):
            newline = text.find("\n", index)
            index = length if newline < 0 else newline
            continue
        elif char == ",":
            rest = index + 1
            while rest < length:
                if text[rest].isspace():
                    rest += 1
                elif text.startswith("//", rest):
                    newline = text.find("\n", rest)
                    rest = length if newline < 0 else newline
                else:
                    break
            if rest >= length or text[rest] not in "]}":
                out.append(char)
        else:
            out.append(char)
        index += 1
    return "".join(out)


_FRAME_KINDS = frozenset(frames.FRAME_KINDS)


def _is_frame(obj: dict[str, Any]) -> bool:
    return not _FRAME_KINDS.isdisjoint(obj)


class _Lines:
    """The non-blank physical lines of a `main.jsonl` byte stream, within the limits.

    Iterating yields (line number, byte offset, content, ends with a newline). Blank lines
    cost a regex scan and a count per chunk, not Python work per byte or per line.
    """

    def __init__(
        self,
        stream: IO[bytes],
        *,
        what: str,
        expected_size: int | None,
        limit: int | None = None,
        compressed_size: int = 0,
    ) -> None:
        self._stream = stream
        self._limit = limit
        self._compressed_size = compressed_size
        self.expected_size = expected_size
        self._what = what  # "main.jsonl" or "the ZIP's main.jsonl", for messages
        self.bytes_read = 0
        self.line = 1  # the physical line at the scan position
        self.broken = False  # the stream itself failed: what follows cannot be counted
        self._ends_line = True  # the bytes read so far end with a newline (or are none)

    @property
    def lines_seen(self) -> int:
        """Physical lines read so far (a last line without its newline counts)."""
        return self.line - 1 if self._ends_line else self.line

    def _read(self) -> bytes:
        try:
            chunk = self._stream.read(READ_CHUNK)
        except _ZIP_READ_ERRORS as error:
            self.broken = True
            raise CorruptExportLineError(
                f"{self._what} is damaged (noticed reading on from line {self.line}): its "
                "compressed data does not inflate or fails its CRC check; re-create the export",
                line=self.line,
                offset=self.bytes_read,
            ) from error
        self.bytes_read += len(chunk)
        if chunk:
            self._ends_line = chunk.endswith(b"\n")
        if self._limit is not None and self.bytes_read > self._limit:
            raise DecompressionLimitError(
                expansion_message(
                    self._what, f"inflates past {self._limit:,} bytes", self._compressed_size
                )
            )
        return chunk

    def __iter__(self) -> Iterator[tuple[int, int, bytes, bool]]:
        buffer = b""
        base = 0  # stream offset of buffer[0]
        position = 0  # scan position: a line start, or the newline that ends a line
        while True:
            if (
                buffer[position : position + 1] == b"\n"
                and buffer[position + 1 : position + 2] == b"{"
            ):
                start = position + 1  # the common case: the next line starts at once
                self.line += 1
            else:
                match = _NON_BLANK.search(buffer, position)
                if match is None:
                    self.line += buffer.count(b"\n", position)
                    base += len(buffer)
                    buffer = self._read()
                    position = 0
                    if not buffer:
                        return
                    continue
                start = match.start()
                self.line += buffer.count(b"\n", position, start)
            end = buffer.find(b"\n", start)
            while end < 0:
                self._check_length(len(buffer) - start, base + start)
                chunk = self._read()
                if not chunk:
                    break
                base += start
                scan_from = len(buffer) - start
                buffer = buffer[start:] + chunk
                start = 0
                end = buffer.find(b"\n", scan_from)
            complete = end >= 0
            if not complete:
                end = len(buffer)
            self._check_length(end - start, base + start)
            content = buffer[start:end]
            position = end
            if base + start == 0 and content.startswith(codecs.BOM_UTF8):
                content = content[len(codecs.BOM_UTF8) :]
                if not content.strip(b" \t\r"):
                    continue
            yield self.line, base + start, content, complete

    def _check_length(self, length: int, offset: int) -> None:
        if length > MAX_FRAME_BYTES:
            raise FrameTooLargeError(
                f"line {self.line} of {MAIN_JSONL} is longer than {MAX_FRAME_BYTES:,} bytes "
                f"(it starts at byte offset {offset:,}); no real Signal frame is that large"
            )

    def total_size(self) -> int | None:
        """Read to the end, counting: the stream's whole decompressed size, if it can be read."""
        if self.broken:
            return None
        try:
            while self._read():
                pass
        except (CorruptExportLineError, DecompressionLimitError):
            return None
        return self.bytes_read


def _line_error(what: str, number: int, offset: int, complete: bool) -> CorruptExportLineError:
    if not complete:
        what = "is cut short: the file ends inside it"
    return CorruptExportLineError(
        f"line {number} of {MAIN_JSONL} {what}", line=number, offset=offset
    )


def _decode_line(number: int, offset: int, content: bytes, complete: bool) -> object:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        if not complete and len(content) - error.start < 4:
            raise _line_error("", number, offset, complete) from None
        raise _line_error(
            f"is not valid UTF-8 text (bad byte at position {error.start + 1} of the line)",
            number,
            offset,
            complete,
        ) from None
    if len(content) > MAX_JSON_VALUES and (
        content.count(b"{") + content.count(b"[") + content.count(b",") > MAX_JSON_VALUES
    ):
        raise FrameTooLargeError(
            f"line {number} of {MAIN_JSONL} holds more than {MAX_JSON_VALUES:,} JSON objects, "
            "arrays and list items; no real Signal frame has that many"
        )
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:
        raise _line_error("is not JSON", number, offset, complete) from error


def _parse_line(obj: object, message: DynamicMessage, number: int, offset: int) -> DynamicMessage:
    if not isinstance(obj, dict):
        raise _line_error("is not a JSON object", number, offset, True)
    try:
        return json_format.ParseDict(obj, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as error:
        raise _line_error(
            f"is not a valid {message.DESCRIPTOR.name}", number, offset, True
        ) from error


def read_lines(
    lines: _Lines, *, salvage: bool = False, stats: ReadStats | None = None
) -> FrameSource:
    """BackupInfo and lazy Frames from the lines of a `main.jsonl` stream.

    With `salvage`, a damaged line after BackupInfo ends the frames early instead of
    raising: `stats.warnings` says which line and `stats.bytes_not_decoded` how many
    bytes were lost. Size limits are never salvaged (the input is not a real export).
    """
    stats = stats if stats is not None else ReadStats()
    iterator = iter(lines)
    try:
        first = next(iterator, None)
        if first is None:
            raise CorruptBackupV2Error(f"{MAIN_JSONL} is empty: no BackupInfo line")
        number, offset, content, complete = first
        obj = _decode_line(number, offset, content, complete)
        if isinstance(obj, dict) and _is_frame(obj):
            raise _line_error(
                "is a frame, but the file must start with a BackupInfo line", number, offset, True
            )
        info = _parse_line(obj, frames.BackupInfo(), number, offset)
    finally:
        stats.lines, stats.bytes_read = lines.lines_seen, lines.bytes_read
    stats.records = 1
    stats.format_version = int(info.version)
    return FrameSource(info, _frame_lines(iterator, lines, stats, salvage), stats)


def _frame_lines(
    iterator: Iterator[tuple[int, int, bytes, bool]], lines: _Lines, stats: ReadStats, salvage: bool
) -> Iterator[DynamicMessage]:
    try:
        while True:
            try:
                item = next(iterator, None)
                if item is None:
                    return
                number, offset, content, complete = item
                obj = _decode_line(number, offset, content, complete)
                if isinstance(obj, dict) and not _is_frame(obj):
                    frame = frames.Frame()  # an unknown or empty frame: skipped, as the spec says
                else:
                    frame = _parse_line(obj, frames.Frame(), number, offset)
            except CorruptExportLineError as error:
                if not salvage:
                    raise
                _salvaged(error, lines, stats)
                return
            stats.records += 1
            yield frame
    finally:
        stats.lines, stats.bytes_read = lines.lines_seen, lines.bytes_read


def _salvaged(error: CorruptExportLineError, lines: _Lines, stats: ReadStats) -> None:
    total = lines.total_size()
    if total is None:
        known = max(lines.bytes_read, lines.expected_size or 0)
        lost, exact = max(known - error.offset, 0), False
    else:
        lost, exact = total - error.offset, True
    stats.bytes_not_decoded = lost
    stats.warnings.append(
        f"salvaged: {error}; kept the {stats.records - 1} frame(s) before line {error.line}; "
        f"{'' if exact else 'about '}{lost:,} byte(s) of {MAIN_JSONL} from line {error.line} "
        "on were not decoded"
    )


def read_jsonl(path: Path, *, salvage: bool = False) -> FrameSource:
    """A bare `main.jsonl` file, read line by line."""
    handle = path.open("rb")
    try:
        lines = _Lines(handle, what=MAIN_JSONL, expected_size=path.stat().st_size)
        source = read_lines(lines, salvage=salvage)
    except BaseException:
        handle.close()
        raise
    source.frames = _closing(handle, source.frames)
    return source


def open_export_member(path: Path) -> tuple[zipfile.ZipFile, zipfile.ZipInfo]:
    """The export ZIP and its `main.jsonl` entry (at the root or one folder down)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as error:
        raise CorruptBackupV2Error(
            f"{path.name} is not a readable ZIP archive (its central directory is damaged or "
            "it is cut short); re-create or re-download the export"
        ) from error
    names = [i for i in archive.infolist() if i.filename.rsplit("/", 1)[-1] == MAIN_JSONL]
    if not names:
        archive.close()
        raise CorruptBackupV2Error(f"the ZIP has no {MAIN_JSONL}; is it a Signal plaintext export?")
    return archive, min(names, key=lambda i: i.filename.count("/"))


def read_export_zip(path: Path, *, salvage: bool = False) -> FrameSource:
    """The plaintext export ZIP: its `main.jsonl` (at the root or one folder down)."""
    archive, member = open_export_member(path)
    try:
        # The declared sizes come from the (untrusted) central directory: the compressed
        # size cannot exceed the file, and the declared size is checked here and the
        # inflated bytes counted while reading, since either may lie.
        compressed = min(member.compress_size, path.stat().st_size)
        limit = decompressed_limit(compressed)
        what = f"the ZIP's {MAIN_JSONL}"
        if member.file_size > limit or member.file_size > (1 << 62):
            raise DecompressionLimitError(
                expansion_message(what, f"declares {member.file_size:,} bytes", compressed)
            )
        if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            # zipfile inflates bzip2 and LZMA without an output bound per read, and Signal
            # writes its exports with deflate; anything else is refused before reading.
            raise CorruptBackupV2Error(
                f"{what} uses ZIP compression method {member.compress_type}; a Signal export "
                "uses deflate (8) or none (0), so this file is not read"
            )
        try:
            stream = archive.open(member)
        except _ZIP_READ_ERRORS as error:
            raise CorruptBackupV2Error(
                f"{what} cannot be opened: its entry is damaged, encrypted or uses an unknown "
                "compression method; re-create the export"
            ) from error
        lines = _Lines(
            stream,
            what=what,
            expected_size=member.file_size,
            limit=limit,
            compressed_size=compressed,
        )
        source = read_lines(lines, salvage=salvage)
    except BaseException:
        archive.close()
        raise
    source.frames = _closing(archive, source.frames)
    return source


def parse_json_objects(
    objects: Iterable[dict[str, Any]],
) -> tuple[DynamicMessage, Iterator[DynamicMessage]]:
    """(BackupInfo, lazy Frames) from protobuf-JSON objects, BackupInfo first (item 1)."""
    iterator = iter(objects)
    first = next(iterator, None)
    if first is None:
        raise CorruptBackupV2Error("the JSON backup is empty: no BackupInfo item")
    if isinstance(first, dict) and _is_frame(first):
        raise CorruptBackupV2Error("the JSON backup does not start with a BackupInfo item")
    info = _parse_item(first, frames.BackupInfo(), 1)
    return info, (
        _parse_item(obj, frames.Frame(), index) for index, obj in enumerate(iterator, start=2)
    )


def _parse_item(obj: object, message: DynamicMessage, index: int) -> DynamicMessage:
    if not isinstance(obj, dict):
        raise CorruptBackupV2Error(f"item {index} of the JSON backup is not an object")
    try:
        return json_format.ParseDict(obj, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as error:
        raise CorruptBackupV2Error(
            f"item {index} of the JSON backup is not a valid {message.DESCRIPTOR.name}"
        ) from error


def read_json_array(text: str) -> tuple[DynamicMessage, Iterator[DynamicMessage]]:
    """libsignal's test-case layout: one JSON array (comments allowed) of BackupInfo + frames."""
    try:
        objects = json.loads(strip_json_comments(text))
    except (ValueError, RecursionError) as error:
        raise CorruptBackupV2Error("the JSON backup does not parse") from error
    if not isinstance(objects, list):
        raise CorruptBackupV2Error("the JSON backup is not a list of frames")
    return parse_json_objects(objects)


def _closing(resource: Any, items: Iterator[Any]) -> Iterator[Any]:
    with resource:
        yield from items


__all__ = [
    "MAIN_JSONL",
    "open_export_member",
    "parse_json_objects",
    "read_export_zip",
    "read_json_array",
    "read_jsonl",
    "read_lines",
    "strip_json_comments",
]
