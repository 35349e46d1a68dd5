"""The platform names a handle needs, mistyped the way fast typing does."""

from __future__ import annotations

from astrabot_pipeline.privacy.english_words import english_lexicon
from astrabot_pipeline.privacy.social_handles import (
    MISTYPED_PLATFORM_NAMES,
    find_handles,
    transpositions,
)


def test_transpositions_swap_each_pair_of_different_neighbours():
    assert transpositions("insta") == ["nista", "isnta", "intsa", "insat"]
    assert transpositions("reddit") == ["erddit", "rdedit", "redidt", "reddti"]


def test_no_mistyped_platform_name_is_an_english_word():
    """A swapped spelling that is a word ("form" from "from") would make every message
    holding it name a platform."""
    lexicon = english_lexicon()
    assert len(MISTYPED_PLATFORM_NAMES) > 50
    assert not {variant for variant in MISTYPED_PLATFORM_NAMES if variant in lexicon}


def test_a_handle_after_a_mistyped_platform_is_found_and_a_short_name_is_not_mistyped():
    text = "add me on isnta @zoltanbender"
    assert [text[s.start : s.end] for s in find_handles(text)] == ["@zoltanbender"]
    assert find_handles("@sam look, gi is fine") == []  # "gi" is no swapped "ig"
