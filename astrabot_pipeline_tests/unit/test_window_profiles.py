"""One profile row per window: size, timing in the configured zone, topic and tone."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from astrabot_pipeline.conversations import ConversationProcessor
from astrabot_pipeline.conversations.profiles import (
    PROFILE_COLUMNS,
    build_window_profiles,
    profile_distributions,
)
from astrabot_pipeline.conversations.timing import UnknownTimeZoneError
from astrabot_pipeline.errors import SettingError
from astrabot_pipeline_tests.conftest import make_messages

OWNER, ALEX, SAM = 1, 2, 3
MARCH_31 = pd.Timestamp("2024-03-31T00:00:00Z").timestamp()  # Europe/Berlin: DST at 01:00 UTC


def _windows(rows, min_messages: int = 3) -> pd.DataFrame:
    messages = make_messages(rows)
    processor = ConversationProcessor(min_messages_per_window=min_messages)
    windows = processor.create_conversation_windows(messages)
    return windows.rename(columns={"body": "text"})


def test_a_window_is_summarized_by_hand_computable_numbers() -> None:
    windows = _windows(
        [
            (1, ALEX, False, 0, "pizza tonight?"),
            (1, OWNER, True, 60, "yes, great idea!!"),
            (1, ALEX, False, 180, "ramen is better"),
        ]
    )
    profiles = build_window_profiles(windows, time_zone="UTC")
    assert tuple(profiles.columns) == PROFILE_COLUMNS
    row = profiles.iloc[0]
    assert row["thread_id"] == 1 and row["messages"] == 3 and row["participants"] == 2
    assert row["owner_messages"] == 1 and row["bursts"] == 3
    assert row["span_seconds"] == 180 and row["median_gap_seconds"] == 90
    assert row["median_owner_reply_seconds"] == 60
    assert row["start"] == pd.Timestamp("1970-01-01T00:00:00Z")
    assert row["start_hour_local"] == 0 and row["weekday_local"] == 3  # a Thursday
    # food_drink: pizza, ramen; plans_logistics: tonight -> 2 of 3 hits.
    assert row["topic"] == "food_drink" and row["topic_score"] == pytest.approx(2 / 3)
    # Mean of VADER compounds: "pizza tonight?" has no lexicon word: 0; "yes, great idea!!":
    # yes 1.7 + great 3.1 + 2 x 0.292 for "!!" = 5.384 -> 5.384 / sqrt(5.384^2 + 15) = 0.8118;
    # "ramen is better": better 1.9 -> 0.4404.
    assert row["tone_score"] == pytest.approx((0.0 + 0.8118 + 0.4404) / 3)
    assert row["tone"] == "positive"


def test_windows_without_text_are_neutral_and_topicless() -> None:
    windows = _windows(
        [(1, ALEX, False, 0, None), (1, OWNER, True, 30, ""), (1, ALEX, False, 60, "  ")]
    )
    row = build_window_profiles(windows, time_zone="UTC").iloc[0]
    assert row["tone"] == "neutral" and row["tone_score"] == 0.0
    assert row["topic"] == "other" and row["topic_score"] == 0.0


def test_empty_messages_do_not_dilute_a_windows_tone() -> None:
    windows = _windows(
        [(1, ALEX, False, 0, "awful"), (1, OWNER, True, 30, None), (1, ALEX, False, 60, "")]
    )
    row = build_window_profiles(windows, time_zone="UTC").iloc[0]
    assert row["tone_score"] == pytest.approx(-0.4588)  # "awful" alone
    assert row["tone"] == "negative"


def test_a_window_of_one_message_has_no_gap() -> None:
    windows = _windows([(7, OWNER, True, 0, "ok")], min_messages=1)
    row = build_window_profiles(windows, time_zone="UTC").iloc[0]
    assert row["messages"] == 1 and row["bursts"] == 1 and row["span_seconds"] == 0
    assert math.isnan(row["median_gap_seconds"])
    assert math.isnan(row["median_owner_reply_seconds"])  # nobody to answer


def test_start_hour_follows_daylight_saving_in_the_configured_zone() -> None:
    before, after = MARCH_31 + 30 * 60, MARCH_31 + 90 * 60  # 00:30 and 01:30 UTC
    windows = _windows(
        [(1, ALEX, False, before + s, "hi") for s in (0, 10, 20)]
        + [(2, ALEX, False, after + s, "hi") for s in (0, 10, 20)]
    )
    berlin = build_window_profiles(windows, time_zone="Europe/Berlin")
    assert berlin["start_hour_local"].tolist() == [1, 3]  # 01:30 CET, 03:30 CEST
    assert berlin["weekday_local"].tolist() == [6, 6]  # Sunday
    utc = build_window_profiles(windows, time_zone="UTC")
    assert utc["start_hour_local"].tolist() == [0, 1]


def test_a_group_where_the_owner_never_speaks_has_no_owner_reply_time() -> None:
    windows = _windows(
        [(5, ALEX, False, 0, "hey"), (5, SAM, False, 40, "yo"), (5, ALEX, False, 90, "lol")]
    )
    row = build_window_profiles(windows, time_zone="UTC").iloc[0]
    assert row["owner_messages"] == 0 and row["participants"] == 2
    assert math.isnan(row["median_owner_reply_seconds"])
    assert row["median_gap_seconds"] == 45
    assert row["topic"] == "small_talk"


def test_the_text_column_is_configurable_and_checked() -> None:
    windows = _windows([(1, ALEX, False, s, "flight delayed") for s in (0, 10, 20)])
    by_body = build_window_profiles(windows.rename(columns={"text": "body"}), text_column="body")
    assert by_body["topic"].tolist() == ["travel"]
    with pytest.raises(SettingError, match="text"):
        build_window_profiles(windows.drop(columns=["text"]))


def test_an_unknown_time_zone_is_a_setting_error() -> None:
    windows = _windows([(1, ALEX, False, s, "hi") for s in (0, 10, 20)])
    with pytest.raises(UnknownTimeZoneError, match="time zone"):
        build_window_profiles(windows, time_zone="Mars/Olympus")


def test_the_machine_zone_is_the_default(monkeypatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    windows = _windows([(1, ALEX, False, s, "hi") for s in (0, 10, 20)])
    assert build_window_profiles(windows)["start_hour_local"].tolist() == [9]
    assert build_window_profiles(windows, time_zone="")["start_hour_local"].tolist() == [9]


def test_no_windows_give_an_empty_frame_with_the_columns() -> None:
    windows = _windows([(1, ALEX, False, 0, "hi")])
    profiles = build_window_profiles(windows, time_zone="UTC")
    assert profiles.empty and tuple(profiles.columns) == PROFILE_COLUMNS


def test_distributions_count_every_label_and_hold_no_text() -> None:
    windows = _windows(
        [(1, ALEX, False, s, "pizza is great") for s in (0, 10, 20)]
        + [(2, ALEX, False, s, "the zebra") for s in (0, 10, 20)]
    )
    distributions = profile_distributions(build_window_profiles(windows, time_zone="UTC"))
    assert distributions["topic"]["food_drink"] == 1 and distributions["topic"]["other"] == 1
    assert distributions["tone"] == {"positive": 1, "neutral": 1, "negative": 0}
    assert sum(distributions["topic"].values()) == 2
