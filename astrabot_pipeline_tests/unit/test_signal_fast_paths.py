"""The fast decode paths agree with the protobuf classes and the plain CTR/HMAC primitives."""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import sqlite3
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st

from astrabot_pipeline.signal.legacy import protos
from astrabot_pipeline.signal.legacy.crypto import (
    FRAME_KEYSTREAM,
    KEYSTREAM_BATCH,
    MAC_SIZE,
    BackupKeys,
    FrameCipher,
    xor_bytes,
)
from astrabot_pipeline.signal.legacy.events import (
    NULL_AS_NAN,
    SqlValue,
    StatementEvent,
    _param_value,
    _statement_event,
)
from astrabot_pipeline.signal.legacy.sqlite_replay import SqliteReplayer


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, wire_type: int, payload: bytes) -> bytes:
    key = _varint(number << 3 | wire_type)
    if wire_type == 2:
        return key + _varint(len(payload)) + payload
    return key + payload


_INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_KNOWN_FIELD = st.one_of(
    st.text().map(lambda text: _field(1, 2, text.encode())),
    _INT64.map(lambda n: _field(2, 0, _varint(n % 2**64))),
    st.integers(min_value=0, max_value=2**70).map(lambda n: _field(2, 0, _varint(n))),
    st.floats(allow_nan=True).map(lambda x: _field(3, 1, struct.pack("<d", x))),
    st.binary().map(lambda data: _field(4, 2, data)),
    st.integers(min_value=0, max_value=300).map(lambda n: _field(5, 0, _varint(n))),
)
_UNKNOWN_FIELD = st.one_of(
    st.tuples(st.integers(6, 2000), st.integers(0, 2**64 - 1)).map(
        lambda t: _field(t[0], 0, _varint(t[1]))
    ),
    st.tuples(st.integers(6, 2000), st.binary(max_size=20)).map(lambda t: _field(t[0], 2, t[1])),
    st.tuples(st.integers(6, 2000), st.binary(min_size=8, max_size=8)).map(
        lambda t: _field(t[0], 1, t[1])
    ),
)
# Mostly canonical one-field parameters, plus empty, multi-field and unknown-field ones.
_PARAMETER = st.one_of(
    _KNOWN_FIELD,
    _KNOWN_FIELD,
    _KNOWN_FIELD,
    st.just(b""),
    st.lists(st.one_of(_KNOWN_FIELD, _UNKNOWN_FIELD), max_size=4).map(b"".join),
)
_STATEMENT = st.tuples(
    st.text(),
    st.lists(_PARAMETER, max_size=60),
    st.lists(_UNKNOWN_FIELD, max_size=2).map(b"".join),
).map(
    lambda t: (
        _field(1, 2, t[0].encode()) + b"".join(_field(2, 2, parameter) for parameter in t[1]) + t[2]
    )
)


def _same(left: object, right: object) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return struct.pack("<d", left) == struct.pack("<d", right) or (
            math.isnan(left) and math.isnan(right)
        )
    return type(left) is type(right) and left == right


@settings(max_examples=400, deadline=None)
@given(_STATEMENT)
def test_raw_statement_path_agrees_with_the_protobuf_class(encoded: bytes) -> None:
    try:
        expected = protos.SqlStatement.FromString(encoded)
    except DecodeError:
        with pytest.raises(DecodeError):
            _statement_event(protos.RawSqlStatement.FromString(encoded))
        return
    # Twice: the second pass is served from the parameter cache.
    for _ in range(2):
        event = _statement_event(protos.RawSqlStatement.FromString(encoded))
        assert event.sql == expected.statement
        values = tuple(map(_param_value, expected.parameters))
        assert len(event.params) == len(values)
        assert all(map(_same, event.params, values)), (event.params, values)


@settings(max_examples=100, deadline=None)
@given(_STATEMENT)
def test_null_as_nan_changes_only_the_null_parameters(encoded: bytes) -> None:
    try:
        expected = protos.SqlStatement.FromString(encoded)
    except DecodeError:
        return
    values = [_param_value(parameter) for parameter in expected.parameters]
    for _ in range(2):  # the second pass is served from the NaN cache
        event = _statement_event(protos.RawSqlStatement.FromString(encoded), null_as_nan=True)
        assert [value is NULL_AS_NAN for value in event.params] == [v is None for v in values]
        assert all(map(_same, event.params, [NULL_AS_NAN if v is None else v for v in values]))


def test_null_as_nan_parameters_are_stored_as_null(tmp_path: Path) -> None:
    rows: list[tuple[SqlValue, ...]] = [
        (1, NULL_AS_NAN, "x", NULL_AS_NAN),
        (2, 2.5, NULL_AS_NAN, b"\x00"),
    ]
    with SqliteReplayer(tmp_path / "db.sqlite") as replayer:
        replayer.handle(StatementEvent("CREATE TABLE t (a INTEGER PRIMARY KEY, b REAL, c, d)", ()))
        for row in rows:
            replayer.handle(StatementEvent("INSERT INTO t VALUES (?,?,?,?)", row))
    with sqlite3.connect(tmp_path / "db.sqlite") as connection:
        stored = connection.execute("SELECT *, typeof(b), typeof(c) FROM t ORDER BY a").fetchall()
    assert stored == [(1, None, "x", None, "null", "text"), (2, 2.5, None, b"\x00", "real", "null")]


def test_malformed_parameter_raises_decode_error() -> None:
    truncated = _field(1, 2, b"INSERT") + _field(2, 2, b"\x0a\x05ab")
    with pytest.raises(DecodeError):
        _statement_event(protos.RawSqlStatement.FromString(truncated))


def test_negative_and_large_integers_are_signed_int64() -> None:
    params = [_field(2, 0, _varint(n % 2**64)) for n in (-1, -(2**63), 2**63 - 1, 0, 300)]
    encoded = _field(1, 2, b"x") + b"".join(_field(2, 2, p) for p in params)
    event = _statement_event(protos.RawSqlStatement.FromString(encoded))
    assert event.params == (-1, -(2**63), 2**63 - 1, 0, 300)


def cipher_counter_bytes(cipher: FrameCipher, delta: int) -> bytes:
    """The 4 counter bytes `delta` units from the cipher's next one."""
    return ((cipher.counter + delta) % 2**32).to_bytes(4, "big")


@pytest.mark.parametrize("tail", [os.urandom(12), b"\xff" * 12, b"\x00" * 4 + b"\xff" * 8])
@pytest.mark.parametrize("counter", [0, 7, 2**32 - 1, 2**32 - KEYSTREAM_BATCH - 3])
def test_frame_keystream_and_mac_match_ctr_and_hmac(tail: bytes, counter: int) -> None:
    keys = BackupKeys(cipher_key=os.urandom(32), mac_key=os.urandom(32))
    cipher = FrameCipher(keys, counter.to_bytes(4, "big") + tail)
    for expected_counter in (counter, (counter + 1) % 2**32):
        iv, keystream = cipher.next_frame()
        assert iv == expected_counter.to_bytes(4, "big") + tail
        ctr = Cipher(algorithms.AES(keys.cipher_key), modes.CTR(iv)).encryptor()
        assert keystream == ctr.update(bytes(FRAME_KEYSTREAM))
        assert cipher.keystream(iv, 3000)[:FRAME_KEYSTREAM] == keystream
    # Past several keystream batches, with blob units taking counter values in between.
    for step in range(2 * KEYSTREAM_BATCH + 5):
        if step % 7 == 3:
            assert cipher.next_unit().iv[:4] == cipher_counter_bytes(cipher, -1)
        iv, keystream = cipher.next_frame()
        ctr = Cipher(algorithms.AES(keys.cipher_key), modes.CTR(iv)).encryptor()
        assert keystream == ctr.update(bytes(FRAME_KEYSTREAM))
    data, prefix = os.urandom(333), os.urandom(4)
    full = hmac.new(keys.mac_key, prefix + data, hashlib.sha256).digest()[:MAC_SIZE]
    assert cipher.frame_mac(data, prefix) == full
    assert cipher.frame_mac(data) == hmac.new(keys.mac_key, data, hashlib.sha256).digest()[:10]
    assert xor_bytes(xor_bytes(data, keystream), keystream) == data
