"""Key derivation and passphrase handling of the legacy Signal backup format (docs/backup-formats.md §2, §9.4)."""

from __future__ import annotations

import pytest

from astrabot_pipeline.signal.errors import BackupError, PassphraseFormatError
from astrabot_pipeline.signal.legacy.crypto import (
    BackupKeys,
    FrameCipher,
    KeyRing,
    derive_keys,
    derive_passphrase_key,
    normalize_passphrase,
    split_backup_key,
)

FIXTURE_PASSPHRASE = "12345 67890 12345 67890 12345 67890"


def test_view_signal_backup_vector_without_salt() -> None:
    assert derive_passphrase_key(b"password", None).hex() == (
        "c996f5b52d80d5053af9d1f6fded9c2f227f9000408637c4450ba15442b3e8a9"
    )


def test_view_signal_backup_vector_with_salt_and_hkdf_split() -> None:
    backup_key = derive_passphrase_key(b"password", bytes.fromhex("00010203"))
    assert backup_key.hex() == "648c165f7981d0505ddf3b6c79bc5437b61edccfcef7077e08ebaf6d3c82e538"
    keys = split_backup_key(backup_key)
    assert keys.cipher_key.hex() == (
        "44fc12038815ea4842285567353dc78574a161301af6918e04b3f2fe155a138a"
    )
    assert keys.mac_key.hex() == "4412ded40b40145fdd2d31e8a5149cefefe672196666905f50b2c00472473b5b"


def test_hxp_2021_vector() -> None:
    salt = bytes.fromhex("0e6621b28a618a652893e84299b8fc8204e80f0a3a00d612c31a8cb890f9f8e9")
    digits = normalize_passphrase("0" * 30)
    assert derive_passphrase_key(digits, salt).hex() == (
        "f31d9f1ec458aca7d9b266002fd72f27fdca2458067e6b17dd5ef68e47e4d662"
    )
    keys = derive_keys(digits, salt)
    assert keys.cipher_key.hex() == (
        "d1450baa0781e9841de93d2881c163e541e54630436c585d4b6e2fb17cc28969"
    )
    assert keys.mac_key.hex() == "24aad09b426828bccba80850af3993fc363aa847d496e6095889d682d30dedb0"


def test_synthetic_fixture_vector() -> None:
    digits = normalize_passphrase(FIXTURE_PASSPHRASE)
    assert derive_passphrase_key(digits, bytes(range(32))).hex() == (
        "b8bf308eddb216d1c606fe0192b5d91f93b4bbd76e3b4954d72de8f443e76f10"
    )
    keys = derive_keys(digits, bytes(range(32)))
    assert keys.cipher_key.hex() == (
        "bca8e1dc9cc9f2d7bd1dc3fe1018633019cabf7bb810bbcecb0b4a92018d4ec7"
    )
    assert keys.mac_key.hex() == "e5943bd4bb63eb518263b841a5a86f68cec871093ff4055773345934a8cb5f4c"


@pytest.mark.parametrize(
    "passphrase",
    [
        FIXTURE_PASSPHRASE,
        "123456789012345678901234567890",
        "12345-67890-12345-67890-12345-67890\n",
        " 12345 67890\t12345 67890 12345 67890 ",
    ],
)
def test_passphrase_separators_are_ignored(passphrase: str) -> None:
    assert normalize_passphrase(passphrase) == b"123456789012345678901234567890"


@pytest.mark.parametrize("passphrase", ["", "12345", "1234567890" * 4, "abc"])
def test_passphrase_with_wrong_digit_count_is_rejected_without_echoing_it(passphrase: str) -> None:
    with pytest.raises(PassphraseFormatError) as caught:
        normalize_passphrase(passphrase)
    assert isinstance(caught.value, BackupError)
    assert "30" in str(caught.value)
    assert "SIGNAL_BACKUP_PASSPHRASE" in str(caught.value)
    if passphrase:
        assert passphrase not in str(caught.value)


def test_backup_v2_recovery_key_is_explained() -> None:
    recovery_key = "dtjs858asj6tv0jzsqrsmj0ubp335pisj98e9ssnss8myoc08drhtcktyawvx45l"
    grouped = " ".join(recovery_key[i : i + 4].upper() for i in range(0, 64, 4))
    for candidate in (recovery_key, grouped):
        with pytest.raises(PassphraseFormatError, match="backup-v2 recovery key") as caught:
            normalize_passphrase(candidate)
        assert recovery_key not in str(caught.value).lower()


def test_keys_never_appear_in_repr() -> None:
    keys = BackupKeys(cipher_key=b"\x01" * 32, mac_key=b"\x02" * 32)
    ring = KeyRing(FIXTURE_PASSPHRASE)
    assert "01" not in repr(keys) and "\\x01" not in repr(keys)
    assert "12345" not in repr(ring)


def test_frame_counter_wraps_at_32_bits_and_keeps_iv_tail() -> None:
    keys = BackupKeys(cipher_key=b"\x00" * 32, mac_key=b"\x00" * 32)
    iv = bytes.fromhex("ffffffff") + bytes(range(12))
    cipher = FrameCipher(keys, iv)
    first, second = cipher.next_unit(), cipher.next_unit()
    assert first.iv == iv
    assert second.iv == bytes(4) + bytes(range(12))
    assert cipher.counter == 1


def test_ctr_unit_is_its_own_inverse_and_macs_truncate_to_ten_bytes() -> None:
    keys = BackupKeys(cipher_key=b"\x07" * 32, mac_key=b"\x09" * 32)
    iv = bytes(range(16))
    encrypt, decrypt = FrameCipher(keys, iv).next_unit(), FrameCipher(keys, iv).next_unit()
    ciphertext = encrypt.apply(b"hello world")
    encrypt.mac_update(ciphertext)
    decrypt.mac_update(ciphertext)
    assert decrypt.apply(ciphertext) == b"hello world"
    assert len(encrypt.mac()) == 10 and decrypt.mac_matches(encrypt.mac())
