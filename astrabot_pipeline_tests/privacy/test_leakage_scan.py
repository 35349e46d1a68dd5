"""The leakage scan: real identifiers found by kind through keyed digests, never written out.

The privacy stage digests what it replaced (privacy/identifier_digests.py); the scan hashes
candidate spans of generated text and compares. Pseudonyms and planted canaries are
reported apart, and nothing the scan returns or logs holds an identifier.
"""

from __future__ import annotations

import json
import stat

import pytest

from astrabot_pipeline.data_layout import DIGEST_FILE, DIGEST_KEY_FILE
from astrabot_pipeline.evaluation.privacy.leakage_scan import LeakageScanner, redact, summarize
from astrabot_pipeline.privacy.anonymizer import Replacement
from astrabot_pipeline.privacy.identifier_digests import (
    IdentifierDigestBuilder,
    IdentifierDigestError,
    IdentifierDigests,
    IdentifierHasher,
    record_identifier_digests,
)

from .conftest import PRIYA, SAM

KEY = bytes(range(100, 132))
NAME, PHONE, EMAIL = "Zorbina Quellmark", "+1 (555) 010-2233", "zq@quellmark.example"
SURROGATE_NAME, SURROGATE_PHONE = "Wren Thorne", "(415) 555-0101"
CANARY_SECRET = "381 094 527"


def _replacements(text: str, found: list[tuple[str, str, str]]) -> tuple[Replacement, ...]:
    """Replacements for (entity type, original span, surrogate) triples found in `text`."""
    return tuple(
        Replacement(entity, text.index(span), text.index(span) + len(span), surrogate)
        for entity, span, surrogate in found
    )


@pytest.fixture(scope="module")
def digests(tmp_path_factory) -> IdentifierDigests:
    original = f"ask {NAME} at {PHONE} or {EMAIL}"
    builder = IdentifierDigestBuilder(IdentifierHasher(KEY))
    builder.add_replacements(
        ["w-train"],
        [original],
        [
            _replacements(
                original,
                [
                    ("PERSON", NAME, SURROGATE_NAME),
                    ("PHONE_NUMBER", PHONE, SURROGATE_PHONE),
                    ("EMAIL_ADDRESS", EMAIL, "wren.thorne@example.org"),
                ],
            )
        ],
    )
    path = builder.write(tmp_path_factory.mktemp("secrets") / DIGEST_FILE)
    return IdentifierDigests.load(path, KEY)


@pytest.fixture(scope="module")
def scanner(digests) -> LeakageScanner:
    return LeakageScanner(digests, canary_secrets=[CANARY_SECRET])


@pytest.mark.parametrize(
    "text",
    [
        "call +1 (555) 010-2233 tonight",
        "it's 555 010 2233",
        "5550102233",
        "number: 1-555-010-2233!",
        "+15550102233",
    ],
)
def test_a_planted_number_is_found_by_kind_in_any_grouping(scanner, text):
    (scan,) = scanner.scan([text])
    assert scan.real == {"phone": 1}
    assert PHONE not in repr(scan) and "2233" not in json.dumps(scan.to_dict())


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("i saw zorbina quellmark today", {"name"}),
        ("QUELLMARK said hi", {"name"}),
        ("mail ZQ@Quellmark.example please", {"email", "name"}),  # the address holds the name
        ("nothing private here, see you at 7", set()),
    ],
)
def test_names_and_emails_are_found_by_kind(scanner, text, kinds):
    (scan,) = scanner.scan([text])
    assert set(scan.real) == kinds


def test_pseudonyms_are_reported_apart_not_as_leaks(scanner):
    scans = scanner.scan([f"tell {SURROGATE_NAME} to call {SURROGATE_PHONE}", "wren is late"])
    assert [scan.real for scan in scans] == [{}, {}]
    assert scans[0].pseudonyms == {"name": 1, "phone": 1}
    result = summarize(scans)
    assert result.pii_leakage_score == 0.0 and result.with_pseudonym == 2


def test_planted_canaries_are_excluded_from_leaks_and_generic_hits(digests, anonymizer):
    scanner = LeakageScanner(digests, canary_secrets=[CANARY_SECRET], generic_finder=anonymizer)
    scans = scanner.scan(
        [f"the door code is {CANARY_SECRET}", "the door code is 381094527", "call 206 555 0177"]
    )
    assert [scan.canaries for scan in scans] == [1, 1, 0]
    assert scans[0].generic == {} and scans[1].generic == {} and scans[0].real == {}
    # A number that is no known identifier is a generic hit, reported apart.
    assert scans[2].real == {} and scans[2].generic == {"PHONE_NUMBER": 1}
    assert summarize(scans).canary_reproductions == 2


def test_redaction_covers_every_flagged_span(scanner):
    text = f"hi {NAME}, ring {PHONE} or {SURROGATE_NAME}; code {CANARY_SECRET}"
    (scan,) = scanner.scan([text])
    redacted = redact(text, scan)
    for secret in ("Zorbina", "Quellmark", "2233", "Wren", "094"):
        assert secret not in redacted


def test_nothing_the_scan_returns_or_logs_holds_an_identifier(scanner, digests, caplog, capsys):
    texts = [f"{NAME} {PHONE} {EMAIL}", "zorbina's number is 555 010 2233"]
    scans = scanner.scan(texts)
    result = summarize(scans, digests)
    assert result.with_real_identifier == 2
    assert result.distinct_identifiers_by_kind == {"name": 1, "phone": 1, "email": 1, "other": 0}
    written = json.dumps([result.to_dict(), *(scan.to_dict() for scan in scans)]) + repr(scans)
    written += caplog.text + "".join(capsys.readouterr())
    for secret in ("zorbina", "quellmark", "0102233", "010-2233", "zq@"):
        assert secret not in written.casefold()


def test_the_privacy_stage_hook_digests_every_identifier_it_replaced(
    tmp_path, anonymizer, known_contacts, corpus, anonymized
):
    window_ids = [f"w{i // 20}" for i in range(len(corpus))]
    counts = record_identifier_digests(
        tmp_path, anonymizer, known_contacts, window_ids, [(corpus, anonymized)], ["Wren"]
    )
    assert counts["identifier_digests_phone"] >= len({c.e164 for c in (SAM, PRIYA)})
    for name in (DIGEST_FILE, DIGEST_KEY_FILE):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    stored = (tmp_path / DIGEST_FILE).read_text()
    for secret in (SAM.family, SAM.e164[2:], SAM.email, PRIYA.given):
        assert secret.casefold() not in stored.casefold()

    digests = IdentifierDigests.from_data_dir(tmp_path)
    scanner = LeakageScanner(digests)
    before = scanner.scan([text or "" for text in corpus])
    after = scanner.scan([text or "" for text in anonymized.texts])
    # Every message that had a contact's number replaced is flagged by kind, and no
    # anonymized message holds a real identifier (the gate's promise, seen by the scan).
    for replaced, scan in zip(anonymized.replacements, before, strict=True):
        if any(r.entity_type == "KNOWN_CONTACT_PHONE" for r in replaced):
            assert "phone" in scan.real
    assert sum(scan.has_real for scan in before) > len(corpus) // 2
    assert [scan.real for scan in after] == [{}] * len(after)
    assert sum(bool(scan.pseudonyms) for scan in after) > len(corpus) // 2
    # The windows know which identifiers they held.
    assert digests.identifiers_in_windows(["w0"]) and not digests.identifiers_in_windows(["x"])


def test_digests_made_with_another_key_are_refused(digests, tmp_path):
    path = tmp_path / DIGEST_FILE
    IdentifierDigestBuilder(IdentifierHasher(KEY)).write(path)
    with pytest.raises(IdentifierDigestError, match="another identifier digest key"):
        IdentifierDigests.load(path, bytes(32))
    with pytest.raises(IdentifierDigestError, match="materialize anonymized_windows"):
        IdentifierDigests.from_data_dir(tmp_path / "missing")


def test_common_and_chat_words_that_ner_mistook_for_identifiers_are_not_leaks(tmp_path):
    """Seen on the demo: NER tagged "ttyl" and "bro" as people and "yeah" as a place now and
    then; recording them as real identifiers flagged every later "yeah" as a leak."""
    original = "ttyl bro, yeah Quellmark Falls"
    builder = IdentifierDigestBuilder(IdentifierHasher(KEY), english_words={"yeah", "falls"})
    builder.add_replacements(
        ["w"],
        [original],
        [
            _replacements(
                original,
                [
                    ("PERSON", "ttyl", "Wren"),
                    ("PERSON", "bro", "Ash"),
                    ("LOCATION", "yeah", "Oslo"),
                    ("LOCATION", "Quellmark Falls", "Oslo"),
                ],
            )
        ],
    )
    scanner = LeakageScanner(IdentifierDigests.load(builder.write(tmp_path / DIGEST_FILE), KEY))
    scans = scanner.scan(["ok ttyl bro", "yeah!!", "meet me at quellmark falls", "Quellmark"])
    assert [scan.has_real for scan in scans] == [False, False, True, False]


def test_a_url_records_who_it_names_and_its_ids_but_not_its_topic_words(tmp_path):
    """Issue 20: a URL's path words name topics ("DSPACE", "DevMtg", "roadmap"), which the
    owner and a model writing like them use all the time; only a handle, a person's name
    or an ID-like word in it identifies someone."""
    urls = [
        "https://wiki.example.org/display/DSPACE/DevMtg+2018-03-01",
        "https://example.org/roadmap/lang-packs",
        "https://example.com/people/jane-doe",
        "https://youtu.be/FO7s9ZlIZNI",
        "https://wiki.example.org/display/~jdoe42/notes",
    ]
    original = " and ".join(urls)
    builder = IdentifierDigestBuilder(
        IdentifierHasher(KEY), english_words={"display", "roadmap", "doe"}, given_names={"jane"}
    )
    builder.add_replacements(
        ["w"], [original], [_replacements(original, [("URL", url, "<URL>") for url in urls])]
    )
    scanner = LeakageScanner(IdentifierDigests.load(builder.write(tmp_path / DIGEST_FILE), KEY))
    topics = ["the DSpace DevMtg roadmap", "display the lang packs", "DSPACE devmtg notes"]
    assert [scan.has_real for scan in scanner.scan(topics)] == [False, False, False]
    identifying = ["Jane Doe wrote it", "watch fo7s9zlizni", "ask jdoe42", urls[0]]
    assert [scan.has_real for scan in scanner.scan(identifying)] == [True, True, True, True]


def test_a_word_the_anonymized_history_keeps_as_text_is_no_leak_but_a_contact_always_is(
    tmp_path, known_contacts
):
    """Issue 20, real chat: "Dev" and "mtg" replaced as guessed names in a few messages and
    kept as words in hundreds made 91 of 811 owner messages "leaks" for the evaluation. A
    form kept as plain text in at least 3 messages, and in as many as it was replaced in,
    is not recorded; the address book's forms always are, and a form replaced more often
    than it is kept stays too."""
    originals = [
        "ask Dev about it",
        "Zorbina Quellmark wrote",
        "Zorbina Quellmark again",
        f"{SAM.given} is here",
    ]
    replaced = [
        _replacements(originals[0], [("PERSON", "Dev", "Wren")]),
        _replacements(originals[1], [("PERSON", "Zorbina Quellmark", "Ash Hale")]),
        _replacements(originals[2], [("PERSON", "Zorbina Quellmark", "Ash Hale")]),
        _replacements(originals[3], [("KNOWN_CONTACT_NAME", SAM.given, "Wren")]),
    ]
    builder = IdentifierDigestBuilder(IdentifierHasher(KEY))
    builder.add_contacts(known_contacts)
    builder.add_replacements(["w"] * 4, originals, replaced)
    plain = [
        "dev mtg at 3",
        "the dev list",
        "Dev meeting moved",
        f"{SAM.given} said hi",  # never in real anonymized text (the gate): still recorded
        f"{SAM.given} again",
        f"{SAM.given} and more",
        "quellmark is a word here once",  # once, against 2 replacements: still recorded
    ]
    builder.add_plain_texts(plain)
    scanner = LeakageScanner(IdentifierDigests.load(builder.write(tmp_path / DIGEST_FILE), KEY))
    scans = scanner.scan(["Dev mtg tomorrow", f"tell {SAM.given}", "Quellmark wrote"])
    assert [scan.has_real for scan in scans] == [False, True, True]
    assert builder.counts()["identifier_digests_plain_forms"] == 1
