"""The SMS precision set's loader reads the collection's ham once each and turns the
annotators' notes into whole-word spans; the committed labels match the docs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import _real_chat as real_chat  # noqa: E402
import _sms_chat as sms_chat  # noqa: E402

from astrabot_pipeline_tests.unit.test_real_chat_loader import _documented  # noqa: E402

COLLECTION = [
    "ham\tOk lar... Joking wif u oni...\n",
    "spam\tFree entry in 2 a wkly comp! Text WIN to 80086\n",
    "ham\tCall me at &lt;#&gt; lor &amp; bring Siva\n",
    "ham\tOk lar... Joking wif u oni...\n",  # the same text again
    "\n",
    "ham\tSiva is in hostel, siva's bike too\n",
]


def test_collection_keeps_each_ham_text_once_decoded_with_its_line_number():
    messages = sms_chat.read_collection(COLLECTION)

    assert [(m.id, m.text) for m in messages] == [
        (1, "Ok lar... Joking wif u oni..."),
        (3, "Call me at <#> lor & bring Siva"),
        (6, "Siva is in hostel, siva's bike too"),
    ]


def test_a_line_without_its_label_is_refused():
    with pytest.raises(real_chat.RealChatError, match="line 2"):
        sms_chat.read_collection(["ham\tok\n", "no label here\n"])


def test_notes_become_every_whole_word_occurrence_and_the_longer_of_two_overlaps():
    text = "Siva is at ubi tech park, Sivaram at ubi"
    spans = sms_chat.spans_from_notes(
        text, [["Siva", "PERSON"], ["ubi", "OTHER"], ["ubi tech park", "OTHER"]]
    )

    assert [(text[a:b], kind) for a, b, kind in spans] == [
        ("Siva", "PERSON"),  # not inside "Sivaram"
        ("ubi tech park", "OTHER"),  # "ubi" inside it is taken in
        ("ubi", "OTHER"),
    ]


@pytest.mark.parametrize(
    ("notes", "error"),
    [([["Sivaram", "PERSON"]], "does not occur"), ([["Siva", "NAME"]], "unknown span type")],
)
def test_a_note_that_is_not_in_its_message_or_of_no_known_type_is_refused(notes, error):
    with pytest.raises(real_chat.RealChatError, match=error):
        sms_chat.spans_from_notes("Siva is in hostel", notes)


def test_labels_need_notes_for_every_drawn_message():
    draw = sms_chat.read_collection(COLLECTION)
    with pytest.raises(real_chat.RealChatError, match="1 drawn messages without notes"):
        sms_chat.label_rows(draw, {1: [], 3: [["Siva", "PERSON"]]}, ())

    rows = sms_chat.label_rows(draw, {1: [], 3: [["Siva", "PERSON"]], 6: []}, ())
    assert [row["spans"] for row in rows] == [[], [[27, 31, "PERSON"]], []]
    assert rows[0]["style"]["ellipsis"]


def test_committed_sms_labels_match_the_docs_and_parse():
    path = sms_chat.LABELS_FILE
    if not path.is_file():
        pytest.skip(f"{path.name} is not in this checkout (docs/real-chat-corpus.md)")
    labelled = real_chat.load_labels(path)

    assert (path.read_bytes().count(b"\n"), real_chat.file_digest(path)) == _documented(path.name)
    assert len({m.id for m in labelled}) == len(labelled) == 2000
    assert all(m.text[a:b].strip() == m.text[a:b] for m in labelled for a, b, _ in m.spans)
