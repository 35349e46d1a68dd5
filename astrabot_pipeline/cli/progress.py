"""The progress bar `astrabot decode` and `astrabot inspect` draw on a terminal (tqdm)."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from tqdm import tqdm


def _tqdm_size(stream: TextIO) -> dict[str, int]:
    """tqdm's size arguments for `stream`: a terminal that reports no size (a pty nobody
    sized, as `script` or some CI runners make) gets 80x24, where tqdm would draw nothing."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, OSError, ValueError):  # not a real file: tqdm decides
        return {}
    return {} if size.columns > 0 and size.lines > 0 else {"ncols": 80, "nrows": 24}


class ProgressBar:
    """The decoder's progress callback, drawn by tqdm on a terminal: percent, bytes, MB/s
    and frames, at most every `interval` seconds.

    Silent unless `stream` is a TTY (logs and pipes get only the final summary). Nothing is
    drawn before the first call, so a passphrase prompt never shares the bar's line. It shows
    the label and counts only, never text read from the backup.
    """

    BAR_FORMAT = "{l_bar}{bar}| {n_fmt}B/{total_fmt}B [{elapsed}<{remaining}, {rate_fmt}{postfix}]"

    def __init__(self, label: str, stream: TextIO = sys.stderr, *, interval: float = 0.1) -> None:
        self.label = label
        self.stream = stream
        self.enabled = stream.isatty()
        self.interval = interval
        self._bar: tqdm | None = None

    def __call__(self, frames: int, bytes_read: int, total: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            self._bar = tqdm(
                desc=self.label,
                total=total or None,
                file=self.stream,
                unit="B",
                unit_scale=True,
                unit_divisor=1000,
                mininterval=self.interval,
                miniters=1,  # the decoder itself calls only every so many frames
                bar_format=self.BAR_FORMAT,
                **_tqdm_size(self.stream),
            )
        elif total and self._bar.total != total:
            self._bar.total = total
        self._bar.set_postfix_str(f"{frames:,} frames", refresh=False)
        self._bar.update(bytes_read - self._bar.n)

    def close(self) -> None:
        """Draw the bar's last state and end its line, so later output starts on a fresh one
        (a second call does nothing)."""
        if self._bar is not None:
            self._bar.close()
