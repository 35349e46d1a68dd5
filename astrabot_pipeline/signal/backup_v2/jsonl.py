"""Signal's plaintext export: a ZIP with `main.jsonl` (or a bare `main.jsonl`) of JSON frames.

Each line is one protobuf-JSON object (libsignal's jsonproto naming): first BackupInfo,
then Frames. Ids may be numbers or strings of digits and bytes are base64, both of which
the standard protobuf-JSON parser accepts. `strip_json_comments` also lets libsignal's
hand-written test cases (`//` comments, trailing commas) be read.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from astrabot_pipeline.signal.backup_v2 import frames
from astrabot_pipeline.signal.backup_v2.errors import CorruptBackupV2Error

MAIN_JSONL = "main.jsonl"


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


def _is_frame(obj: dict[str, Any]) -> bool:
    return any(kind in obj for kind in frames.FRAME_KINDS)


def parse_json_objects(objects: Iterable[dict[str, Any]]) -> tuple[Message, Iterator[Message]]:
    """(BackupInfo, lazy Frames) from protobuf-JSON objects, BackupInfo first."""
    iterator = iter(objects)
    first = next(iterator, None)
    if first is None:
        raise CorruptBackupV2Error("the JSON backup is empty: no BackupInfo line")
    if _is_frame(first):
        raise CorruptBackupV2Error("the JSON backup does not start with a BackupInfo line")
    info = _parse(first, frames.BackupInfo(), 0)
    return info, (_parse(obj, frames.Frame(), index) for index, obj in enumerate(iterator, start=1))


def _parse(obj: object, message: Message, index: int) -> Message:
    if not isinstance(obj, dict):
        raise CorruptBackupV2Error(f"JSON record {index} is not an object")
    try:
        return json_format.ParseDict(obj, message, ignore_unknown_fields=True)
    except json_format.ParseError as error:
        raise CorruptBackupV2Error(
            f"JSON record {index} is not a valid {message.DESCRIPTOR.name}"
        ) from error


def _json_lines(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as error:
            raise CorruptBackupV2Error(f"line {number} of {MAIN_JSONL} is not JSON") from error


def read_jsonl(path: Path) -> tuple[Message, Iterator[Message]]:
    """A bare `main.jsonl` file, read line by line."""
    handle = path.open(encoding="utf-8")
    return parse_json_objects(_closing(handle, _json_lines(handle)))


def read_export_zip(path: Path) -> tuple[Message, Iterator[Message]]:
    """The plaintext export ZIP: its `main.jsonl` (at the root or one folder down)."""
    archive = zipfile.ZipFile(path)
    names = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == MAIN_JSONL]
    if not names:
        archive.close()
        raise CorruptBackupV2Error(f"the ZIP has no {MAIN_JSONL}; is it a Signal plaintext export?")
    member = min(names, key=lambda n: n.count("/"))
    text = io.TextIOWrapper(archive.open(member), encoding="utf-8")
    return parse_json_objects(_closing(archive, _json_lines(text)))


def read_json_array(text: str) -> tuple[Message, Iterator[Message]]:
    """libsignal's test-case layout: one JSON array (comments allowed) of BackupInfo + frames."""
    try:
        objects = json.loads(strip_json_comments(text))
    except json.JSONDecodeError as error:
        raise CorruptBackupV2Error("the JSON backup does not parse") from error
    if not isinstance(objects, list):
        raise CorruptBackupV2Error("the JSON backup is not a list of frames")
    return parse_json_objects(objects)


def _closing(resource: Any, items: Iterator[Any]) -> Iterator[Any]:
    with resource:
        yield from items


__all__ = [
    "MAIN_JSONL",
    "parse_json_objects",
    "read_export_zip",
    "read_json_array",
    "read_jsonl",
    "strip_json_comments",
]
