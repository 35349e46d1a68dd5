"""Span-level anonymization accuracy on hand-computable cases: the 80 % rule, precision,
F2, recall per type, surviving known identifiers and the changed-message shares."""

from __future__ import annotations

import pytest

from astrabot_pipeline.privacy.accuracy import (
    GoldSpan,
    LabelledText,
    Prediction,
    f_beta,
    score,
)

# "call ann at 0123456789" : the number is [12, 22), ten characters.
NUMBER_TEXT = "call ann at 0123456789"
NUMBER = GoldSpan(12, 22, "PHONE")


def _replaced(*ranges: tuple[int, int], changed: bool = True) -> Prediction:
    return Prediction(tuple(ranges), changed)


def test_a_span_is_caught_from_eighty_percent_of_its_characters_replaced_not_below():
    text = LabelledText(NUMBER_TEXT, (NUMBER,))
    eight_of_ten = score([text], [_replaced((12, 20))])
    seven_of_ten = score([text], [_replaced((12, 19))])
    assert eight_of_ten.recall_of("PHONE") == 1.0
    assert seven_of_ten.recall_of("PHONE") == 0.0
    empty = LabelledText(NUMBER_TEXT, (GoldSpan(12, 12, "PHONE"),))
    assert score([empty], [_replaced((0, 22))]).recall == 0.0


def test_characters_replaced_by_several_replacements_add_up_and_are_counted_once():
    # "Anna Berg" [0, 9): given and family name replaced apart, the space kept: 8 of 9.
    text = LabelledText("Anna Berg said hi", (GoldSpan(0, 9, "PERSON"),))
    assert score([text], [_replaced((0, 4), (5, 9))]).recall == 1.0
    # Two overlapping replacements of the same four characters are still 4 of 9.
    assert score([text], [_replaced((0, 4), (1, 4))]).recall == 0.0


def test_recall_is_per_type_and_overall_over_all_gold_spans():
    texts = [
        LabelledText("a 0123456789", (GoldSpan(2, 12, "PHONE"),)),
        LabelledText("b 0123456789", (GoldSpan(2, 12, "PHONE"),)),
        LabelledText("hey ann", (GoldSpan(4, 7, "PERSON"),)),
    ]
    report = score(texts, [_replaced((2, 12)), _replaced(), _replaced((4, 7))])
    assert report.recall_of("PHONE") == 0.5
    assert report.recall_of("PERSON") == 1.0
    assert report.recall == pytest.approx(2 / 3)


def test_a_replacement_touching_no_gold_span_is_a_false_positive_and_lowers_precision():
    text = LabelledText(NUMBER_TEXT, (NUMBER,))
    # "call" [0, 4) is no personal data; the number is; a sliver of it still counts as true.
    report = score([text], [_replaced((0, 4), (12, 22), (21, 22))])
    assert (report.true_replacements, report.false_replacements) == (2, 1)
    assert report.precision == pytest.approx(2 / 3)


def test_a_replacement_on_an_unscored_gold_type_is_neither_true_nor_false():
    text = LabelledText(
        "on monday call 0123456789", (GoldSpan(3, 9, "DATE_TIME"), GoldSpan(15, 25, "PHONE"))
    )
    report = score([text], [_replaced((3, 9), (15, 25))], scored_types={"PHONE"})
    assert report.gold == {"PHONE": 1}
    assert (report.true_replacements, report.neutral_replacements, report.false_replacements) == (
        1,
        1,
        0,
    )


def test_f2_weighs_recall_four_times_as_much_as_precision():
    # F2 = 5PR / (4P + R)
    assert f_beta(0.5, 1.0) == pytest.approx(5 * 0.5 / (4 * 0.5 + 1.0))
    assert f_beta(1.0, 0.5) == pytest.approx(5 * 0.5 / (4 * 1.0 + 0.5))
    assert f_beta(0.0, 1.0) == 0.0
    report = score([LabelledText(NUMBER_TEXT, (NUMBER,))], [_replaced((0, 4), (12, 22))])
    assert report.f2 == pytest.approx(f_beta(0.5, 1.0))


def test_a_known_identifier_survives_while_a_whole_word_of_it_is_left_even_when_caught():
    # "Bob O'Neill-Smith": [0, 17); replacing all but "Bob" catches it (14/17 >= 0.8) and
    # "Bob" still survives; replacing all but "O" (under three characters) leaves nothing.
    labelled = LabelledText("Bob O'Neill-Smith is here", (GoldSpan(0, 17, "PERSON", True),))
    partly = score([labelled], [_replaced((3, 17))])
    assert partly.recall == 1.0 and partly.surviving_known == 1
    all_but_o = score([labelled], [_replaced((0, 4), (5, 17))])
    assert (all_but_o.known_identifiers, all_but_o.surviving_known) == (1, 0)
    untouched = score([labelled], [_replaced(changed=False)])
    assert untouched.surviving_known == 1


def test_changed_share_counts_only_texts_without_gold_spans_and_owner_style_apart():
    texts = [
        LabelledText("me too....lol", (), frozenset({"ellipsis", "slang"})),
        LabelledText("WAIT WHAT", (), frozenset({"shouting"})),
        LabelledText("see you at noon"),
        LabelledText("see you at noon too"),
        LabelledText(NUMBER_TEXT, (NUMBER,)),  # not clean: its change is no false change
    ]
    predictions = [
        _replaced((6, 13)),
        _replaced(changed=False),
        _replaced((11, 15)),
        _replaced(changed=False),
        _replaced((12, 22)),
    ]
    report = score(texts, predictions)
    assert (report.clean_texts, report.clean_changed) == (4, 2)
    assert report.clean_changed_share == 0.5
    assert (report.owner_style_clean, report.owner_style_changed) == (2, 1)
    assert report.owner_style_changed_share == 0.5
