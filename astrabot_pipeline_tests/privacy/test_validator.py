from __future__ import annotations

import json

from astrabot_pipeline.privacy import PrivacyValidator

from .conftest import SAM


def test_report_and_metadata_hold_counts_but_no_text(known_contacts):
    texts = [
        "sam okafor lives at 4114 Linden Avenue",
        "call 415 555 0134 or mail sam.okafor@gmail.com",
        "stranger: 312 867 5309, x@corp.io",
    ]
    report = PrivacyValidator(known_contacts, canaries=["4114 Linden Avenue"]).scan(texts)
    metadata = report.to_metadata()
    assert all(isinstance(v, int | float | bool) for v in metadata.values())
    dumped = json.dumps(metadata) + repr(report)
    secrets = ("sam", "okafor", "linden", "4114", "gmail", "corp.io", "0134", "5309", "stranger")
    assert not [secret for secret in secrets if secret in dumped.lower()]
    # "sam okafor", and again inside the e-mail address.
    assert (report.known_name, report.known_phone, report.known_email, report.canary) == (
        2,
        1,
        1,
        1,
    )
    assert (report.generic_phone, report.generic_email) == (1, 1)
    assert report.rows_scanned == 3 and report.rows_with_findings == 3
    assert not report.passed
    assert report.generic_residue_rate == 1 / 3


def test_canaries_match_across_lines_and_case(known_contacts):
    validator = PrivacyValidator(
        known_contacts, canaries=["4114 Linden Avenue, Portland, OR 97205"]
    )
    assert validator.scan(["send it to\n4114 LINDEN avenue\nPortland OR  97205"]).canary == 1
    assert validator.scan(["4114 Linden"]).canary == 0


def test_surrogate_style_values_do_not_count(known_contacts):
    texts = ["call (202) 555-0117", "mail wren.thorne@example.org", "+1 415 555 0199", None, ""]
    report = PrivacyValidator(known_contacts).scan(texts)
    assert report.passed
    assert report.generic_phone == report.generic_email == 0
    assert report.rows_scanned == 4 and report.rows_with_findings == 0


def test_a_known_number_in_any_format_fails_the_check(known_contacts):
    validator = PrivacyValidator(known_contacts)
    for phone in SAM.phone_forms:
        report = validator.scan([f"it's {phone}"])
        assert report.known_phone == 1 and not report.passed
