"""Message timing per thread, in a configurable IANA time zone.

Input is a windows frame (`ConversationProcessor.create_conversation_windows`, or the
anonymized windows): thread_id, sender_id, is_outgoing, sent_at, position_in_window,
response_seconds, burst_id. The owner is the sender of outgoing messages; "contacts" are
everyone else. All figures come from windowed messages only.

Hours and weekdays are local wall-clock time in the chosen zone, so a DST change moves
them with the clocks (a fixed UTC offset would be an hour off for half the year).
`thread_timing` columns (one row per thread):

* owner_reply_median_seconds / owner_reply_p90_seconds: latency of an owner message that
  follows a contact's message in the same window (the owner replying); NaN when none
* contact_reply_median_seconds / contact_reply_p90_seconds: latency of a contact message
  that follows an owner message in the same window (a contact replying to the owner;
  a contact answering another contact in a group is not counted)
* hour_profile / owner_hour_profile: 24 shares (local hour 0-23) of all / the owner's
  messages, summing to 1 (all NaN when the owner wrote nothing)
* weekday_profile / owner_weekday_profile: 7 shares, Monday first
* peak_hour / owner_peak_hour: the local hour with the most messages (Int64; NA when none)
* night_share / owner_night_share: share of messages sent 00:00-05:59 local time
* owner_initiation_share: share of the thread's windows whose first message is the owner's
* owner_double_text_rate / contact_double_text_rate: a double text is a message whose
  previous message in the same window has the same sender, sent more than the burst gap
  earlier — it starts a new burst although nobody answered in between (so the sender wrote
  again after being left waiting). Rate = double texts / messages of that side (NaN when
  the side wrote nothing). A silence longer than the window gap starts a new window
  instead, and is not a double text.
* burstiness: Goh–Barabási B = (σ − μ) / (σ + μ) of the gaps between consecutive windowed
  messages of the thread (σ the population standard deviation), from -1 (regular) through
  0 (Poisson) to 1 (bursty); NaN with fewer than 3 gaps or when all gaps are 0.
"""

from __future__ import annotations

import contextlib
import os
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from astrabot_pipeline.conversations.windows import utc_microseconds
from astrabot_pipeline.errors import AstrabotError

NIGHT_HOURS = range(0, 6)
TIMING_COLUMNS = (
    "thread_id",
    "owner_reply_median_seconds",
    "owner_reply_p90_seconds",
    "contact_reply_median_seconds",
    "contact_reply_p90_seconds",
    "hour_profile",
    "owner_hour_profile",
    "weekday_profile",
    "owner_weekday_profile",
    "peak_hour",
    "owner_peak_hour",
    "night_share",
    "owner_night_share",
    "owner_initiation_share",
    "owner_double_text_rate",
    "contact_double_text_rate",
    "burstiness",
)
_ZONEINFO_MARKER = "zoneinfo/"


class UnknownTimeZoneError(AstrabotError, ValueError):
    """The configured time zone is not an IANA zone name this machine knows."""


def _zone_from_path(path: str) -> str | None:
    """'Europe/Berlin' from '/usr/share/zoneinfo/Europe/Berlin' (None without 'zoneinfo/')."""
    at = path.rfind(_ZONEINFO_MARKER)
    return path[at + len(_ZONEINFO_MARKER) :] if at >= 0 else None


def _loads(name: str | None) -> zoneinfo.ZoneInfo | None:
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


def machine_time_zone_name() -> str:
    """The machine's IANA zone: TZ, the /etc/localtime link target, /etc/timezone, else UTC."""
    tz = os.environ.get("TZ", "").strip().removeprefix(":")
    candidates = [tz, _zone_from_path(tz)] if tz else []
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        candidates.append(_zone_from_path(str(localtime.resolve())))
        candidates.append(_zone_from_path(os.readlink(localtime)))
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    for name in candidates:
        if _loads(name) is not None:
            return str(name)
    return "UTC"


def resolve_time_zone(name: str | None) -> zoneinfo.ZoneInfo:
    """The named IANA zone; "" or None means the machine's zone (see machine_time_zone_name)."""
    if not name:
        return zoneinfo.ZoneInfo(machine_time_zone_name())
    zone = _loads(name)
    if zone is None:
        raise UnknownTimeZoneError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin' or "
            "'America/New_York', or leave it empty for this machine's zone"
        )
    return zone


def local_hour_and_weekday(
    sent_at: pd.Series, zone: zoneinfo.ZoneInfo
) -> tuple[np.ndarray, np.ndarray]:
    """Local wall-clock hour (0-23) and weekday (0 = Monday) of each timestamp."""
    index = pd.DatetimeIndex(sent_at)
    index = index.tz_localize("UTC") if index.tz is None else index
    local = index.tz_convert(zone)
    return local.hour.to_numpy(np.int64), local.weekday.to_numpy(np.int64)


@dataclass(frozen=True)
class ThreadFrame:
    """Windowed messages as arrays sorted by (thread, time, message_id), threads coded."""

    thread_ids: np.ndarray  # one per code, ascending
    code: np.ndarray  # thread code of each message
    outgoing: np.ndarray
    sender: np.ndarray
    sent_us: np.ndarray
    first_in_window: np.ndarray
    same_window_as_previous: np.ndarray
    previous_outgoing: np.ndarray
    same_sender_as_previous: np.ndarray
    response_seconds: np.ndarray
    order: np.ndarray  # positions in the input frame

    @property
    def threads(self) -> int:
        return len(self.thread_ids)

    @classmethod
    def from_windows(cls, windows: pd.DataFrame) -> ThreadFrame:
        thread = windows["thread_id"].to_numpy(np.int64)
        sent = utc_microseconds(windows["sent_at"])
        order = np.lexsort((windows["message_id"].to_numpy(np.int64), sent, thread))
        thread, sent = thread[order], sent[order]
        thread_ids, code = np.unique(thread, return_inverse=True)
        outgoing = windows["is_outgoing"].to_numpy(bool)[order]
        sender = windows["sender_id"].to_numpy(np.int64)[order]
        # Window starts from window_id changes, not position 0: the anonymized windows may
        # lack a window's first message (an opted-out contact's messages are dropped).
        window_code = pd.factorize(windows["window_id"].to_numpy(dtype=object)[order])[0]
        first = np.ones(len(order), dtype=bool)
        first[1:] = window_code[1:] != window_code[:-1]
        n = len(order)
        same_window = np.zeros(n, dtype=bool)
        same_window[1:] = ~first[1:]
        previous_outgoing = np.zeros(n, dtype=bool)
        previous_outgoing[1:] = outgoing[:-1]
        same_sender = np.zeros(n, dtype=bool)
        same_sender[1:] = sender[1:] == sender[:-1]
        return cls(
            thread_ids=thread_ids,
            code=code.astype(np.int64),
            outgoing=outgoing,
            sender=sender,
            sent_us=sent,
            first_in_window=first,
            same_window_as_previous=same_window,
            previous_outgoing=previous_outgoing & same_window,
            same_sender_as_previous=same_sender & same_window,
            response_seconds=windows["response_seconds"].to_numpy(np.float64)[order],
            order=order,
        )

    def count(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Messages per thread (where `mask`)."""
        codes = self.code if mask is None else self.code[mask]
        return np.bincount(codes, minlength=self.threads).astype(np.float64)

    def rate(self, numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
        """Per-thread share count(numerator) / count(denominator), NaN where the latter is 0."""
        below = self.count(denominator)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(below > 0, self.count(numerator & denominator) / below, np.nan)

    def quantile(self, values: np.ndarray, mask: np.ndarray, q: float) -> np.ndarray:
        """Per-thread quantile of values[mask] (linear interpolation), NaN where none."""
        result = np.full(self.threads, np.nan)
        if mask.any():
            found = pd.Series(values[mask]).groupby(self.code[mask]).quantile(q)
            result[found.index.to_numpy()] = found.to_numpy()
        return result


def _profiles(frame: ThreadFrame, bins: np.ndarray, width: int, mask: np.ndarray | None):
    codes = frame.code if mask is None else frame.code[mask]
    values = bins if mask is None else bins[mask]
    counts = np.bincount(codes * width + values, minlength=frame.threads * width)
    counts = counts.reshape(frame.threads, width).astype(np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = counts / totals
    peak = pd.array(np.argmax(counts, axis=1), dtype="Int64")
    peak[totals[:, 0] == 0] = pd.NA
    return shares, peak


def _burstiness(frame: ThreadFrame) -> np.ndarray:
    same_thread = np.zeros(len(frame.code), dtype=bool)
    same_thread[1:] = frame.code[1:] == frame.code[:-1]
    gaps = np.zeros(len(frame.code))
    gaps[1:] = (frame.sent_us[1:] - frame.sent_us[:-1]) / 1e6
    codes, gaps = frame.code[same_thread], gaps[same_thread]
    n = np.bincount(codes, minlength=frame.threads).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(codes, gaps, minlength=frame.threads) / n
        deviation = gaps - mean[codes]
        sigma = np.sqrt(np.bincount(codes, deviation * deviation, minlength=frame.threads) / n)
        b = (sigma - mean) / (sigma + mean)
    return np.where((n >= 3) & (sigma + mean > 0), b, np.nan)


def thread_timing(
    windows: pd.DataFrame, *, time_zone: str | None = None, frame: ThreadFrame | None = None
) -> pd.DataFrame:
    """One row per thread: TIMING_COLUMNS (see the module docstring)."""
    zone = resolve_time_zone(time_zone)
    if windows.empty:
        return pd.DataFrame(columns=list(TIMING_COLUMNS))
    frame = frame or ThreadFrame.from_windows(windows)
    hour, weekday = local_hour_and_weekday(windows["sent_at"].take(frame.order), zone)
    out = frame.outgoing
    owner_reply = out & frame.same_window_as_previous & ~frame.same_sender_as_previous
    contact_reply = ~out & frame.previous_outgoing
    response = frame.response_seconds
    hour_shares, peak = _profiles(frame, hour, 24, None)
    owner_hour_shares, owner_peak = _profiles(frame, hour, 24, out)
    weekday_shares, _ = _profiles(frame, weekday, 7, None)
    owner_weekday_shares, _ = _profiles(frame, weekday, 7, out)
    night = hour < NIGHT_HOURS.stop
    everyone = np.ones(len(out), dtype=bool)
    double_text = frame.same_sender_as_previous & _new_burst(windows, frame)
    return pd.DataFrame(
        {
            "thread_id": frame.thread_ids,
            "owner_reply_median_seconds": frame.quantile(response, owner_reply, 0.5),
            "owner_reply_p90_seconds": frame.quantile(response, owner_reply, 0.9),
            "contact_reply_median_seconds": frame.quantile(response, contact_reply, 0.5),
            "contact_reply_p90_seconds": frame.quantile(response, contact_reply, 0.9),
            "hour_profile": hour_shares.tolist(),
            "owner_hour_profile": owner_hour_shares.tolist(),
            "weekday_profile": weekday_shares.tolist(),
            "owner_weekday_profile": owner_weekday_shares.tolist(),
            "peak_hour": peak,
            "owner_peak_hour": owner_peak,
            "night_share": frame.rate(night, everyone),
            "owner_night_share": frame.rate(night, out),
            "owner_initiation_share": frame.rate(out, frame.first_in_window),
            "owner_double_text_rate": frame.rate(double_text, out),
            "contact_double_text_rate": frame.rate(double_text, ~out),
            "burstiness": _burstiness(frame),
        }
    )


def _new_burst(windows: pd.DataFrame, frame: ThreadFrame) -> np.ndarray:
    burst = windows["burst_id"].to_numpy(np.int64)[frame.order]
    changed = np.ones(len(burst), dtype=bool)
    changed[1:] = burst[1:] != burst[:-1]
    return changed
