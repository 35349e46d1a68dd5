from __future__ import annotations

import stat

import pytest

from astrabot_pipeline.privacy import Pseudonymizer, SecretFileError, load_or_create_secret
from astrabot_pipeline.privacy.known_contacts import digits_of
from astrabot_pipeline.privacy.pseudonyms import FIRST_NAMES, LAST_NAMES

from .conftest import SECRET


def test_secret_is_created_private_and_reused(tmp_path):
    path = tmp_path / "secrets" / "pseudonym.key"
    first = load_or_create_secret(path)
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_create_secret(path) == first
    assert [p.name for p in path.parent.iterdir()] == ["pseudonym.key"]  # no temp files left


def test_a_truncated_secret_is_refused(tmp_path):
    path = tmp_path / "pseudonym.key"
    path.write_bytes(b"short")
    with pytest.raises(SecretFileError, match="delete it"):
        load_or_create_secret(path)


def test_the_same_identity_gets_the_same_surrogate_and_secrets_differ():
    one, again = Pseudonymizer(SECRET), Pseudonymizer(SECRET)
    other = Pseudonymizer(b"another secret of thirty-two b!!")
    identities = [f"recipient:{i}" for i in range(20)]
    assert [one.person(i) for i in identities] == [again.person(i) for i in identities]
    assert [one.person(i) for i in identities] != [other.person(i) for i in identities]


def test_reserved_identities_get_distinct_names_and_numbers():
    pseudonymizer = Pseudonymizer(SECRET)
    identities = [f"recipient:{i}" for i in range(40)]
    pseudonymizer.reserve(identities)
    people = [pseudonymizer.person(i) for i in identities]
    assert len({p.given for p in people}) == len(people)
    assert len({p.family for p in people}) == len(people)
    assert len({pseudonymizer.phone("4155550134", i) for i in identities}) == len(identities)


@pytest.mark.parametrize(
    ("original", "check"),
    [
        ("sam", str.islower),
        ("SAM", str.isupper),
        ("Sam", lambda s: s[0].isupper() and s[1:].islower()),
    ],
)
def test_surrogates_keep_the_case_shape(original, check):
    assert check(Pseudonymizer(SECRET).name(original, "recipient:2", "given"))


def test_name_parts_follow_the_role_and_possessives_are_kept():
    pseudonymizer = Pseudonymizer(SECRET)
    person = pseudonymizer.person("recipient:2")
    assert pseudonymizer.name("Sam", "recipient:2", "given") == person.given
    assert pseudonymizer.name("Okafor", "recipient:2", "family") == person.family
    assert pseudonymizer.name("sam okafor", "recipient:2", "full") == (
        f"{person.given} {person.family}".lower()
    )
    assert pseudonymizer.name("Sam’s", "recipient:2", "given") == f"{person.given}’s"
    assert pseudonymizer.name("SAM'S", "recipient:2", "given") == f"{person.given.upper()}'S"


def test_pools_never_hold_an_excluded_real_name():
    excluded = {name.lower() for name in FIRST_NAMES[:-3]} | {name for name in LAST_NAMES[:-2]}
    pseudonymizer = Pseudonymizer(SECRET, excluded)
    for i in range(50):
        person = pseudonymizer.person(f"recipient:{i}")
        assert person.given in FIRST_NAMES[-3:]
        assert person.family in LAST_NAMES[-2:]


def test_fake_numbers_are_fictional_keep_the_format_and_avoid_real_numbers():
    pseudonymizer = Pseudonymizer(SECRET)
    fake = pseudonymizer.phone("(415) 555-0134", "recipient:2")
    assert fake[0] == "(" and fake[4:6] == ") " and fake[9] == "-"
    assert digits_of(fake)[3:8] == "55501"
    assert pseudonymizer.phone("+1 415 555 0134", "recipient:2").startswith("+1 ")
    blocked = Pseudonymizer(SECRET, excluded_phones={digits_of(fake)})
    assert digits_of(blocked.phone("(415) 555-0134", "recipient:2")) != digits_of(fake)


def test_fake_emails_and_addresses_use_reserved_domains_and_keep_lines():
    pseudonymizer = Pseudonymizer(SECRET)
    assert pseudonymizer.email("Jane.Doe@Yahoo.com").endswith("@example.com")
    assert pseudonymizer.email("x@y.com", "recipient:2").endswith("@example.org")
    two_lines = pseudonymizer.street_address("12 Elm St\nSpringfield, IL 62704")
    assert len(two_lines.splitlines()) == 2
    assert pseudonymizer.street_address("12 elm st").islower()
