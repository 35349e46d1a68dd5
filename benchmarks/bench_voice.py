"""Does the tuned model write like its owner, on real chat? (issue 19, "Proof on real chat")

Builds a Signal history from the #duraspace IRC logs (benchmarks/_real_chat.py; the owner
is one real person), runs the pipeline on it as a user's backup (`dagster asset
materialize --select 'decoded_backup*'`, the selection `make run` materializes, with the
default budget for a user's backup), then again with `curriculum: single` (one adapter
on the union of the families, the same budget), and prints for the base model, each stage
and the single adapter: next-reply ranking accuracy (by context gain, and by likelihood
alone), the share attributed to the owner,
distinct-2 and the share of replies with a repeated line, each tuned model with its
paired bootstrap 95 % interval against the base (read from the run's metrics.json), and
the wall time and peak RSS of every pipeline step.

    python benchmarks/bench_voice.py [--quick] [--profile tiny|small] [--no-single]

Everything it builds (history, data folders, Dagster home, logs, results.json) goes into
a fresh temporary folder (or --work DIR), never into the repository; it prints where.
The full run takes many hours: run it again with the same --work and options after an
interruption and it resumes (a finished run is read, not repeated; training continues
from its last checkpoint), its figures and step times counting every attempt.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]  # no stubs installed

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _real_chat as real_chat  # noqa: E402

from astrabot_pipeline.data_layout import DIGEST_KEY_FILE, PSEUDONYM_KEY_FILE  # noqa: E402
from astrabot_pipeline.dead_runs import fail_dead_runs  # noqa: E402
from astrabot_pipeline.storage import write_bytes, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SELECTION = "decoded_backup*"
OWNER = "tdonohue"  # 24,742 messages (docs/real-chat-corpus.md)
# Quick mode: the latest first-of-month start with at least this many owner messages
# before the corpus ends (a few hundred owner replies survive the dataset's filters).
QUICK_OWNER_MESSAGES = 600
QUICK_BUDGET = "minutes:3"
# Full mode: 2016 to the end, 7,336 owner messages (well over 2,000 owner replies).
FULL_START = date(2016, 1, 1)
# The single-adapter comparison: the `training` resource's `curriculum` setting.
SINGLE_RUN_CONFIG: dict[str, Any] = {
    "resources": {"training": {"config": {"curriculum": "single"}}}
}
# The privacy stage's keys (pseudonyms, identifier digests) under a data folder's secrets/:
# shared by both runs so they anonymize the history into the same text.
KEY_FILES = (PSEUDONYM_KEY_FILE, DIGEST_KEY_FILE)
RSS_SAMPLE_SECONDS = 0.25
RSS_FLUSH_SECONDS = 10.0  # samples reach the run's rss.tsv at least this often
BASE = "base"
# In the work folder: the options it was started with (a resume must repeat them), and
# each run's RSS samples ("time<TAB>MiB" lines, appended by every attempt).
SETTINGS_FILE = "bench.json"
RSS_FILE = "rss.tsv"

# (section, column) of each figure in metrics.json, and the metric name of its
# tuned-minus-base difference in metrics.json's "differences".
FIGURES: tuple[tuple[str, str, str, str], ...] = (
    ("ranking", "quality", "ranking_accuracy", "ranking accuracy"),
    ("ranking_likelihood", "quality", "ranking_accuracy_likelihood", "ranking by likelihood"),
    ("attribution", "attribution", "attributed_to_owner", "attributed to owner"),
    ("distinct_2", "degeneration", "distinct_2", "distinct-2"),
    ("repeated_line", "degeneration", "repeated_line_share", "repeated-line share"),
)


class VoiceBenchError(Exception):
    """The benchmark cannot go on: a failed run, or metrics.json lacks what it reads."""


# --------------------------------------------------------------------------- pure parts


def quick_start(
    messages: Sequence[real_chat.ChatMessage], owner: str, minimum: int = QUICK_OWNER_MESSAGES
) -> date:
    """The latest first day of a month from which `owner` says at least `minimum` messages
    up to the corpus's end (refused when the whole corpus has fewer)."""
    days = sorted(_day(m) for m in messages if m.speaker == owner)
    if len(days) < minimum:
        raise VoiceBenchError(f"{owner!r} has {len(days)} messages, fewer than {minimum}")
    # The day of the minimum-th message from the end, rounded down to its month's first.
    return days[-minimum].replace(day=1)


def _day(message: real_chat.ChatMessage) -> date:
    return datetime.fromtimestamp(message.sent_at / 1000, real_chat.LOG_ZONE).date()


@dataclass(frozen=True)
class Figure:
    """One figure of one model, and (tuned models) its difference from the base with the
    paired bootstrap 95 % interval and the word it earns."""

    value: float | None
    difference: float | None = None
    low: float | None = None
    high: float | None = None
    outcome: str | None = None
    n: int | None = None


@dataclass(frozen=True)
class ModelFigures:
    run: str  # "chain" or "single"
    model: str
    figures: dict[str, Figure]


def _lookup(payload: Mapping[str, Any], path: Sequence[str]) -> Any:
    node: Any = payload
    for depth, key in enumerate(path):
        if not isinstance(node, Mapping) or key not in node:
            raise VoiceBenchError(
                f"metrics.json has no {'.'.join(path[: depth + 1])}: the benchmark reads "
                f"{'.'.join(path)} (the voice evaluation of issue 19 writes it)"
            )
        node = node[key]
    return node


def read_figures(payload: Mapping[str, Any], run: str) -> list[ModelFigures]:
    """Base and every tuned model of one run's metrics.json, in its order (a `single`
    run: base and the single adapter). The models are those of the `quality` section (the
    reference rows have no ranking)."""
    per_model = _lookup(payload, ["metrics"])
    models = [m for m in _lookup(payload, ["models"]) if "quality" in per_model.get(m, {})]
    if BASE not in models:
        raise VoiceBenchError(f"metrics.json has no metrics.{BASE}.quality: no base row")
    if run == "single":
        # The first stage trained the one adapter; the later stages pass it on, so their
        # rows repeat its figures: the last row stands for it.
        models = [BASE, models[-1]]
    differences = _lookup(payload, ["differences"])
    found: list[ModelFigures] = []
    for model in models:
        figures: dict[str, Figure] = {}
        for name, section, column, _ in FIGURES:
            value = _lookup(payload, ["metrics", model, section, column])
            diff = next(
                (d for d in differences if d.get("model") == model and d.get("metric") == column),
                None,
            )
            if diff is None:
                figures[name] = Figure(value)
                continue
            figures[name] = Figure(
                value, diff["difference"], diff["low"], diff["high"], diff["outcome"], diff["n"]
            )
        found.append(ModelFigures(run, model, figures))
    return found


def _number(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def format_figure(figure: Figure) -> str:
    """ "0.180  +0.024 [-0.010, +0.050] inconclusive (n = 32)", or the value alone."""
    text = _number(figure.value)
    if figure.outcome is None:
        return text
    word = figure.outcome if figure.outcome != "inconclusive" else f"inconclusive (n = {figure.n})"
    return (
        f"{text}  {_number(figure.difference, True)} "
        f"[{_number(figure.low, True)}, {_number(figure.high, True)}] {word}"
    )


def format_table(rows: Sequence[ModelFigures]) -> str:
    """One line per model and figure group: the value, then (tuned models) the difference
    from the base with its 95 % interval; a figure with no interval in metrics.json shows
    its value alone."""
    lines = []
    for row in rows:
        label = row.model
        if row.run == "single" and row.model != BASE:
            label = f"single adapter ({row.model})"
        lines.append(f"  {label}")
        for name, _, _, title in FIGURES:
            lines.append(f"    {title:<22} {format_figure(row.figures[name])}")
    return "\n".join(lines)


@dataclass(frozen=True)
class StepUsage:
    step: str
    seconds: float  # the attempt that finished it (or the last one, when none did)
    peak_rss_mib: float | None  # None: no sample fell inside any of its attempts
    earlier_seconds: float = 0.0  # the attempts before that one (interrupted or repeated)
    earlier_attempts: int = 0


@dataclass(frozen=True)
class Attempt:
    """One run's execution of a step: from its start to its end, or, when its process died,
    to the last event it wrote."""

    start: float
    end: float
    finished: bool


def step_usage(
    attempts: Mapping[str, Sequence[Attempt]], samples: Sequence[tuple[float, float]]
) -> list[StepUsage]:
    """Each step's wall time and the largest sampled RSS (MiB) while any of its attempts ran,
    in start order. The time is the attempt that finished the step (the last attempt when
    none did); earlier attempts are counted beside it. `samples` are (time, MiB) pairs,
    `attempts` in the same clock, oldest first."""
    usages = []
    for step, tries in sorted(attempts.items(), key=lambda item: item[1][0].start):
        last = max((i for i, a in enumerate(tries) if a.finished), default=len(tries) - 1)
        earlier = [a for i, a in enumerate(tries) if i != last]
        inside = [mib for at, mib in samples if any(a.start <= at <= a.end for a in tries)]
        usages.append(
            StepUsage(
                step,
                tries[last].end - tries[last].start,
                max(inside) if inside else None,
                sum(a.end - a.start for a in earlier),
                len(earlier),
            )
        )
    return usages


def format_usage(usages: Sequence[StepUsage]) -> str:
    lines = []
    for u in usages:
        line = f"  {u.step:<28} {u.seconds:8.1f} s   peak RSS " + (
            f"{u.peak_rss_mib:6.0f} MiB" if u.peak_rss_mib is not None else "   n/a"
        )
        if u.earlier_attempts:
            plural = "s" if u.earlier_attempts > 1 else ""
            line += (
                f"   (+{u.earlier_seconds:.0f} s in {u.earlier_attempts} earlier attempt{plural})"
            )
        lines.append(line)
    return "\n".join(lines)


def read_samples(path: Path) -> list[tuple[float, float]]:
    """The (time, MiB) samples of a run's rss.tsv; a line cut short by a kill is skipped."""
    if not path.is_file():
        return []
    samples = []
    for line in path.read_text().splitlines():
        fields = line.split("\t")
        try:
            samples.append((float(fields[0]), float(fields[1])))
        except (IndexError, ValueError):
            continue
    return samples


def check_settings(work: Path, settings: Mapping[str, Any]) -> bool:
    """Record the options in a new work folder; in one used before, refuse other options
    (its history and runs were made with those). True when the folder was used before."""
    record = work / SETTINGS_FILE
    if not record.is_file():
        if any(work.iterdir()):
            raise VoiceBenchError(
                f"{work} is not empty and holds no {SETTINGS_FILE}: not a voice benchmark's "
                "work folder; give --work a new or empty folder"
            )
        write_json(record, dict(settings))
        return False
    recorded = json.loads(record.read_text())
    if recorded != dict(settings):
        differ = sorted(
            k for k in set(recorded) | set(settings) if recorded.get(k) != settings.get(k)
        )
        raise VoiceBenchError(
            f"{work} was started with other options ({', '.join(differ)}: "
            f"{ {k: recorded.get(k) for k in differ} }); repeat them to resume, or give "
            "--work a new folder"
        )
    return True


# --------------------------------------------------------------------------- running


class RssSampler:
    """Samples the resident memory of a process and its children (summed) in a thread."""

    def __init__(self, pid: int, sink: Path, every: float = RSS_SAMPLE_SECONDS) -> None:
        """Samples are appended to `sink` ("time<TAB>MiB" lines, flushed every
        RSS_FLUSH_SECONDS), so they outlive a killed benchmark."""
        self._pid, self._sink, self._every = pid, sink, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            root = psutil.Process(self._pid)
        except psutil.NoSuchProcess:
            return
        with open(self._sink, "a") as sink:
            flushed = time.monotonic()
            while not self._stop.wait(self._every):
                total = 0
                try:
                    for process in (root, *root.children(recursive=True)):
                        total += process.memory_info().rss
                except psutil.Error:
                    continue  # a child ended between listing and reading: next sample
                sink.write(f"{time.time():.3f}\t{total / 2**20:.1f}\n")
                if time.monotonic() - flushed >= RSS_FLUSH_SECONDS:
                    sink.flush()
                    flushed = time.monotonic()


@dataclass(frozen=True)
class RunResult:
    run: str
    data_dir: Path
    log: Path
    seconds: float
    usages: list[StepUsage]
    figures: list[ModelFigures]


@dataclass(frozen=True)
class History:
    """What a run's Dagster home recorded over all its attempts (oldest first)."""

    attempts: dict[str, list[Attempt]]  # by step
    seconds: float  # wall time of all attempts, first event to last step event of each
    succeeded: bool  # the newest attempt succeeded


@contextlib.contextmanager
def _instance(dagster_home: Path) -> Iterator[Any]:
    """The Dagster instance stored in `dagster_home` (imported here: Dagster is slow to
    import and the pure parts above do not need it)."""
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))) as instance:
        yield instance


def read_history(dagster_home: Path) -> History:
    """Every attempt's steps from the event log in `dagster_home`."""
    import dagster as dg

    ends = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}
    attempts: dict[str, list[Attempt]] = {}
    seconds = 0.0
    with _instance(dagster_home) as instance:
        runs = list(reversed(instance.get_runs()))  # oldest first
        if not runs:
            raise VoiceBenchError(f"no run recorded in {dagster_home}")
        for run in runs:
            opened: dict[str, float] = {}
            last: dict[str, float] = {}
            closed: dict[str, Attempt] = {}
            first_event: float | None = None
            for entry in instance.all_logs(run.run_id):
                first_event = entry.timestamp if first_event is None else first_event
                event, step = entry.dagster_event, entry.step_key
                if step is None:
                    continue
                last[step] = entry.timestamp  # a step's log lines (its progress) count too
                if event is None:
                    continue
                if event.event_type == dg.DagsterEventType.STEP_START:
                    opened[step] = entry.timestamp
                elif event.event_type in ends and step in opened:
                    success = event.event_type == dg.DagsterEventType.STEP_SUCCESS
                    closed[step] = Attempt(opened[step], entry.timestamp, success)
            for step, began in opened.items():  # a step its killed process left open
                attempt = closed.get(step, Attempt(began, last[step], False))
                attempts.setdefault(step, []).append(attempt)
            if first_event is not None and last:
                seconds += max(last.values()) - first_event
        succeeded = runs[-1].status == dg.DagsterRunStatus.SUCCESS
    return History(attempts, seconds, succeeded)


def fail_interrupted_runs(dagster_home: Path) -> list[str]:
    """Fail the attempts whose process died (they would hold the model pool's slot)."""
    with _instance(dagster_home) as instance:
        return fail_dead_runs(instance)


def share_keys(source_data: Path, target_data: Path) -> None:
    """Copy the anonymization keys of one run's data folder into another's (0600 files in a
    0700 folder), so both runs see the same pseudonyms, the same dataset and the same test
    slice: their base models then score the same, and the adapters compare fairly."""
    for name in KEY_FILES:
        key = source_data / "secrets" / name
        if not key.is_file():
            raise VoiceBenchError(f"the first run left no {key} to share")
        write_bytes(target_data / "secrets" / name, key.read_bytes())


def run_pipeline(
    run: str,
    work: Path,
    backup_dir: Path,
    profile: str,
    budget: str | None,
    config: Mapping[str, Any] | None,
) -> RunResult:
    """One `dagster asset materialize` of SELECTION in its own data folder and Dagster home;
    a run whose newest attempt succeeded is read, not repeated, and one that was
    interrupted is resumed (its dead attempt failed first, so it frees the pool slot)."""
    data_dir, dagster_home = work / run / "data", work / run / "dagster_home"
    metrics = data_dir / "reports" / "metrics.json"
    log, samples = work / run / "dagster.log", work / run / RSS_FILE
    if dagster_home.is_dir() and metrics.is_file():
        history = read_history(dagster_home)
        if history.succeeded:
            print(f"== {run}: finished before, its figures are read (log: {log})", flush=True)
            return _result(run, data_dir, log, history, metrics, samples)
    dagster_home.mkdir(parents=True, mode=0o700, exist_ok=True)
    shutil.copy(ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    for run_id in fail_interrupted_runs(dagster_home):
        print(f"== {run}: attempt {run_id} was interrupted; resuming", flush=True)
    env = os.environ | {
        "ASTRABOT_DATA_DIR": str(data_dir),
        "ASTRABOT_BACKUP_DIR": str(backup_dir),
        "DAGSTER_HOME": str(dagster_home),
        "SIGNAL_BACKUP_PASSPHRASE": real_chat.PASSPHRASE,
        "ASTRABOT_MODEL_PROFILE": profile,
        "HF_HUB_OFFLINE": "1",
        "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
    }
    env.pop("ASTRABOT_TRAIN_BUDGET", None)
    if budget:
        env["ASTRABOT_TRAIN_BUDGET"] = budget
    command = [str(Path(sys.executable).parent / "dagster"), "asset", "materialize"]
    command += ["-m", "astrabot_pipeline.definitions", "--select", SELECTION]
    if config:
        command += ["--config-json", json.dumps(config)]
    print(f"== {run}: running the pipeline (log: {log})", flush=True)
    started = time.time()
    with open(log, "ab") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
        try:
            with RssSampler(process.pid, samples):
                code = process.wait()
        finally:  # interrupted (Ctrl-C, SIGTERM): the run does not go on without us
            if process.poll() is None:
                process.terminate()
                process.wait()
    if code != 0:
        tail = log.read_text(errors="replace").splitlines()[-25:]
        try:
            steps = format_usage(
                step_usage(read_history(dagster_home).attempts, read_samples(samples))
            )
        except VoiceBenchError as error:  # refused before it started (e.g. its config)
            steps = f"  {error}"
        raise VoiceBenchError(
            f"the {run} run failed (exit {code}) after {time.time() - started:.0f} s; its "
            f"steps:\n{steps}\nthe end of its log {log}:\n  " + "\n  ".join(tail)
        )
    if not metrics.is_file():
        raise VoiceBenchError(f"the {run} run wrote no {metrics}")
    return _result(run, data_dir, log, read_history(dagster_home), metrics, samples)


def _result(
    run: str, data_dir: Path, log: Path, history: History, metrics: Path, samples: Path
) -> RunResult:
    figures = read_figures(json.loads(metrics.read_text()), run)
    usages = step_usage(history.attempts, read_samples(samples))
    return RunResult(run, data_dir, log, history.seconds, usages, figures)


def check_single_supported() -> None:
    """Refuse before any work when the `training` resource has no `curriculum` setting:
    Dagster ignores run config for a resource it does not know, so the "single" run would
    quietly train the chain again."""
    from astrabot_pipeline.defs.resources import pipeline_resources

    training = pipeline_resources().get("training")
    if training is None or "curriculum" not in type(training).model_fields:
        raise VoiceBenchError(
            "this checkout's `training` resource has no `curriculum` setting, which the "
            "single-adapter run needs (issue 19); --no-single skips that run"
        )


def _history(
    messages: Sequence[real_chat.ChatMessage], start: date, owner: str
) -> tuple[list[real_chat.ChatMessage], str]:
    """`owner`'s history from `start` to the corpus's end, and the owner chosen in it."""
    chosen = real_chat.between(messages, start, None)
    return chosen, real_chat.choose_owner(chosen, owner, 1)


def build_history(
    messages: Sequence[real_chat.ChatMessage], backup_dir: Path, start: date, owner: str
) -> dict[str, int]:
    """The encrypted backup of `owner`'s history from `start` to the corpus's end."""
    corpus = real_chat.signal_corpus(*_history(messages, start, owner))
    real_chat.write_history(corpus, backup_dir, "backup")
    return dict(corpus.counts)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short history and budget")
    parser.add_argument("--profile", default="small", help="model profile (tiny: a smoke run)")
    parser.add_argument("--budget", help="ASTRABOT_TRAIN_BUDGET (default: the user default, "
                        f"epochs:1; --quick: {QUICK_BUDGET})")  # fmt: skip
    parser.add_argument("--no-single", action="store_true", help="skip the single adapter")
    parser.add_argument("--owner", default=OWNER, help="the history's owner (an IRC nick)")
    parser.add_argument("--start", type=date.fromisoformat, help="first day of the history")
    parser.add_argument("--work", type=Path, help="where to build (default: a new temp dir)")
    return parser


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    args = _parser().parse_args(argv)
    if not args.no_single:
        check_single_supported()
    work = args.work or Path(tempfile.mkdtemp(prefix="astrabot-bench-voice-"))
    work.mkdir(parents=True, exist_ok=True)
    backup_dir = work / "backup"
    messages = real_chat.load_messages()
    start = args.start
    if start is None:
        start = quick_start(messages, args.owner) if args.quick else FULL_START
    budget = args.budget or (QUICK_BUDGET if args.quick else None)
    settings = {"start": start.isoformat(), "owner": args.owner, "profile": args.profile,
                "budget": budget, "single": not args.no_single}  # fmt: skip
    resumed = check_settings(work, settings)
    out(f"work folder (not in the repository): {work}")
    built = time.perf_counter()
    backup = backup_dir / real_chat.BACKUP_NAME
    if resumed and backup.is_file():
        # The same history, kept: a backup built again would be other bytes (fresh
        # encryption), so every step would see a new backup.
        counts = dict(real_chat.signal_corpus(*_history(messages, start, args.owner)).counts)
        out(f"resuming: the backup {backup} is the one built before")
    else:
        counts = build_history(messages, backup_dir, start, args.owner)
        out(f"built {backup} in {time.perf_counter() - built:.0f} s")
    out(
        f"history from {start}: {counts['chat_messages']:,} messages, owner "
        f"{counts['outgoing']:,}, {counts['contacts'] + 1} speakers; profile {args.profile}, "
        f"budget {budget or 'the default for a user backup (epochs:1)'}"
    )
    runs = [("chain", None)] + ([] if args.no_single else [("single", SINGLE_RUN_CONFIG)])
    results: list[RunResult] = []
    for name, config in runs:
        if results and not (work / name / "data").is_dir():
            share_keys(results[0].data_dir, work / name / "data")
        results.append(run_pipeline(name, work, backup_dir, args.profile, budget, config))
    for result in results:
        out(f"\n== {result.run}: {result.seconds:.0f} s, report {result.data_dir / 'reports'}")
        out("figures (tuned models: difference from the base, paired bootstrap 95 % interval)")
        out(format_table(result.figures))
        out("time and peak RSS per step (RSS sampled every 0.25 s, process tree summed)")
        out(format_usage(result.usages))
    summary = work / "results.json"
    summary.write_text(json.dumps([asdict(r) for r in results], default=str, indent=1))
    out(f"\nresults: {summary}")
    return 0


def _exit_on_sigterm(signum: int, _: object) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        sys.exit(main())
    except (VoiceBenchError, real_chat.RealChatError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
