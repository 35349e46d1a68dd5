import math
import zoneinfo

import numpy as np
import pandas as pd
import pytest

from astrabot_pipeline.conversations import (
    ConversationProcessor,
    UnknownTimeZoneError,
    relationship_dynamics,
    resolve_time_zone,
    thread_timing,
)
from astrabot_pipeline.conversations.timing import _zone_from_path, machine_time_zone_name
from astrabot_pipeline.errors import AstrabotError
from astrabot_pipeline_tests.conftest import make_messages

MINUTE = 60


def _windows(rows, **settings) -> pd.DataFrame:
    return ConversationProcessor(**settings).create_conversation_windows(make_messages(rows))


def test_an_unknown_zone_raises_a_typed_actionable_error():
    with pytest.raises(UnknownTimeZoneError, match="IANA name") as caught:
        resolve_time_zone("Mars/Olympus_Mons")
    assert isinstance(caught.value, AstrabotError) and isinstance(caught.value, ValueError)
    with pytest.raises(UnknownTimeZoneError):
        thread_timing(_windows([(1, 2, False, 0, "a")] * 3), time_zone="UTC+2")


def test_an_empty_zone_name_means_the_machines_zone(monkeypatch):
    monkeypatch.setenv("TZ", "America/Chicago")
    assert machine_time_zone_name() == "America/Chicago"
    assert resolve_time_zone("") == zoneinfo.ZoneInfo("America/Chicago")
    assert resolve_time_zone(None) == zoneinfo.ZoneInfo("America/Chicago")
    monkeypatch.setenv("TZ", ":/usr/share/zoneinfo/Asia/Tokyo")
    assert machine_time_zone_name() == "Asia/Tokyo"
    assert _zone_from_path("../usr/share/zoneinfo/Europe/Berlin") == "Europe/Berlin"
    assert resolve_time_zone("Europe/Berlin") == zoneinfo.ZoneInfo("Europe/Berlin")


def test_hour_profile_follows_the_local_clock_across_a_dst_change():
    # Berlin switches to summer time on Sunday 2024-03-31 at 01:00 UTC (02:00 -> 03:00).
    before = pd.Timestamp("2024-03-30 08:30", tz="UTC").timestamp()  # 09:30 CET
    after = pd.Timestamp("2024-03-31 08:30", tz="UTC").timestamp()  # 10:30 CEST
    rows = [(1, 2, False, before + i, "x") for i in range(3)]
    rows += [(1, 1, True, after + i, "y") for i in range(3)]
    timing = thread_timing(_windows(rows), time_zone="Europe/Berlin").iloc[0]
    hours = np.array(timing["hour_profile"])
    assert hours[9] == pytest.approx(0.5) and hours[10] == pytest.approx(0.5)
    assert timing["owner_hour_profile"][10] == pytest.approx(1.0)
    assert timing["weekday_profile"][5] == pytest.approx(0.5)  # Saturday
    assert timing["weekday_profile"][6] == pytest.approx(0.5)  # Sunday
    utc = thread_timing(_windows(rows), time_zone="UTC").iloc[0]
    assert utc["hour_profile"][8] == pytest.approx(1.0)


def test_reply_latency_is_measured_per_direction():
    rows = [
        (1, 2, False, 0, "hi"),
        (1, 1, True, 10, "hey"),  # owner replies after 10 s
        (1, 2, False, 40, "so"),  # contact replies after 30 s
        (1, 1, True, 140, "ok"),  # owner replies after 100 s
    ]
    timing = thread_timing(_windows(rows), time_zone="UTC").iloc[0]
    assert timing["owner_reply_median_seconds"] == pytest.approx(55)
    assert timing["owner_reply_p90_seconds"] == pytest.approx(91)
    assert timing["contact_reply_median_seconds"] == pytest.approx(30)
    assert timing["owner_initiation_share"] == 0.0


def test_double_texts_are_repeat_messages_after_the_burst_gap_without_a_reply():
    rows = [
        (1, 2, False, 0, "q"),
        (1, 1, True, 30, "a"),
        (1, 1, True, 60, "b"),  # same burst: not a double text
        (1, 1, True, 600, "c"),  # 540 s later, no reply in between: double text
        (1, 2, False, 700, "d"),
    ]
    timing = thread_timing(_windows(rows, burst_gap_seconds=120), time_zone="UTC").iloc[0]
    assert timing["owner_double_text_rate"] == pytest.approx(1 / 3)
    assert timing["contact_double_text_rate"] == 0.0


def test_burstiness_is_goh_barabasi_and_nan_with_fewer_than_three_gaps():
    times = [0, 10, 20, 400, 410]
    timing = thread_timing(_windows([(1, 2, False, t, "x") for t in times]), time_zone="UTC")
    gaps = np.diff(times).astype(float)
    expected = (gaps.std() - gaps.mean()) / (gaps.std() + gaps.mean())
    assert timing["burstiness"].iloc[0] == pytest.approx(expected)
    short = thread_timing(_windows([(1, 2, False, t, "x") for t in (0, 5, 9)]), time_zone="UTC")
    assert math.isnan(short["burstiness"].iloc[0])


def test_a_thread_where_the_owner_never_writes_has_nan_owner_figures():
    rows = [(1, 2 + i % 3, False, i * 20, "x") for i in range(6)]
    timing = thread_timing(_windows(rows), time_zone="UTC").iloc[0]
    assert math.isnan(timing["owner_reply_median_seconds"])
    assert math.isnan(timing["owner_double_text_rate"])
    assert all(math.isnan(share) for share in timing["owner_hour_profile"])
    assert pd.isna(timing["owner_peak_hour"]) and timing["owner_initiation_share"] == 0.0


def test_window_starts_come_from_window_ids_when_a_first_message_was_filtered_out():
    rows = [(1, 2, False, 0, "a"), (1, 1, True, 10, "b"), (1, 2, False, 20, "c")]
    rows += [(1, 1, True, 5000, "d"), (1, 2, False, 5010, "e"), (1, 1, True, 5020, "f")]
    windows = _windows(rows)
    # The privacy stage drops an opted-out contact's messages, here window 2's first one:
    # "e" must still start a window, not double-text "c" from the window before.
    filtered = windows[windows["message_id"] != 4]
    timing = thread_timing(filtered, time_zone="UTC").iloc[0]
    assert timing["contact_double_text_rate"] == 0.0
    assert timing["owner_initiation_share"] == 0.0
    dynamics = relationship_dynamics(filtered.rename(columns={"body": "text"}), time_zone="UTC")
    assert dynamics["windows"].tolist() == [2]
