"""`astrabot` commands that work without Dagster.

Secrets never travel as arguments: they come from the environment as
`settings.read_secrets` finds them (SIGNAL_BACKUP_PASSPHRASE, SIGNAL_ACI, SIGNAL_DESKTOP_KEY
or the files their ASTRABOT_*_FILE variables name), the passphrase also from a file named
with --passphrase-file (shell history and `ps` would expose an argument).
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from tqdm import tqdm

from astrabot_pipeline import interrupts, settings
from astrabot_pipeline.errors import AstrabotError
from astrabot_pipeline.generation.settings import DEFAULT_TEMPERATURE

if TYPE_CHECKING:
    from astrabot_pipeline.inference.adapter import AdapterInfo

MB = 1_000_000


def _read_secrets(passphrase_file: Path | None, *, required: bool = True) -> settings.Secrets:
    """Every secret as `settings.read_secrets` finds it, the passphrase from --passphrase-file
    first and, when still missing and `required`, from a hidden prompt on a terminal (plain
    inputs need none: the decoder says so when one that does lacks it)."""
    from astrabot_pipeline.errors import UnreadableSecretFileError

    try:
        secrets = settings.read_secrets()
    except UnreadableSecretFileError as error:
        raise SystemExit(f"astrabot: {error}") from None
    if passphrase_file is not None:
        try:
            passphrase = passphrase_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise SystemExit(
                f"astrabot: cannot read the passphrase file {passphrase_file}: {error.strerror}"
            ) from None
        return dataclasses.replace(secrets, passphrase=passphrase)
    if secrets.passphrase or not required:
        return secrets
    passphrase = (
        getpass.getpass("Signal backup passphrase (or recovery key): ")
        if sys.stdin.isatty()
        else ""
    )
    if not passphrase:
        raise SystemExit(
            f"astrabot: no passphrase: set {settings.PASSPHRASE_ENV} or pass --passphrase-file FILE"
        )
    return dataclasses.replace(secrets, passphrase=passphrase)


def _needs_passphrase(path: Path) -> bool:
    """Whether the input at `path` is encrypted with a passphrase or recovery key."""
    from astrabot_pipeline.signal.inputs import DETECTION_ERRORS, InputKind, detect_input

    try:
        return detect_input(path) in (InputKind.LEGACY_BACKUP, InputKind.BACKUP_V2)
    except DETECTION_ERRORS:
        return False  # the decoder reports what is wrong with the input itself


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


def _failed(command: str, error: Exception, bar: ProgressBar) -> int:
    """Close the progress bar, say what went wrong (never a secret), return exit status 2."""
    bar.close()
    if isinstance(error, FileNotFoundError):
        print(f"astrabot {command}: no such backup file: {error.filename}", file=sys.stderr)
    else:
        print(f"astrabot {command}: {error}", file=sys.stderr)
    return 2


def _decode(args: argparse.Namespace) -> int:
    from astrabot_pipeline.signal import (
        BackupError,
        CorruptFrameError,
        SignalProcessor,
        TruncatedBackupError,
    )
    from astrabot_pipeline.signal.output_dir import check_output_dir, check_readable_input

    bar = ProgressBar("decoding")
    try:  # before the passphrase (prompt, key derivation) and any decoding work
        check_output_dir(args.out, replace=args.force, input_path=args.backup)
        check_readable_input(args.backup)
    except (BackupError, FileNotFoundError) as error:
        return _failed("decode", error, bar)
    secrets = _read_secrets(args.passphrase_file, required=_needs_passphrase(args.backup))
    processor = SignalProcessor(
        secrets.passphrase,
        aci=secrets.aci,
        desktop_key=secrets.desktop_key,
        extract_attachments=not args.no_attachments,
        verify_mac=not args.no_verify_mac,
    )
    try:
        result = processor.decode(
            args.backup, args.out, progress=bar, salvage=args.salvage, replace=args.force
        )
    except KeyboardInterrupt:
        bar.close()  # the interruption message starts on its own line
        raise
    except (BackupError, FileNotFoundError) as error:
        status = _failed("decode", error, bar)
        if args.salvage and isinstance(error, CorruptFrameError | TruncatedBackupError):
            print(
                "astrabot decode: --salvage: the damage comes before any frame could be "
                "decoded; no output written",
                file=sys.stderr,
            )
        return status
    bar.close()
    for warning in result.warnings:
        print(f"astrabot decode: warning: {warning}", file=sys.stderr)
    counts = ", ".join(f"{name} {count}" for name, count in result.row_counts.items())
    rate = result.bytes_read / MB / max(result.seconds, 1e-9)
    if result.frames is not None:  # a legacy .backup
        what = f"{result.frames} frames"
    elif result.records is not None:  # backup v2: JSON lines or protobuf records
        what = f"{result.records} records (format version {result.format_version})"
    else:
        what = f"a {result.input_kind} input"
    print(
        f"decoded {what} ({result.bytes_read / MB:,.1f} MB in "
        f"{result.seconds:.1f} s, {rate:,.1f} MB/s) into {result.out_dir} ({counts})"
    )
    if result.bytes_not_decoded:
        print(
            f"salvaged a damaged backup: {result.bytes_not_decoded} bytes at the end were not "
            "decoded (see the warning above)"
        )
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from astrabot_pipeline.signal import BackupError
    from astrabot_pipeline.signal.backup_v2.inspect import BackupV2Inspection
    from astrabot_pipeline.signal.inspect import inspect_input
    from astrabot_pipeline.signal.output_dir import check_readable_input

    bar = ProgressBar("checking")
    try:
        check_readable_input(args.backup)  # before asking for the passphrase
    except (BackupError, FileNotFoundError) as error:
        return _failed("inspect", error, bar)
    secrets = _read_secrets(args.passphrase_file, required=_needs_passphrase(args.backup))
    try:
        report = inspect_input(args.backup, secrets.passphrase, aci=secrets.aci, progress=bar)
    except KeyboardInterrupt:
        bar.close()
        raise
    except (BackupError, FileNotFoundError) as error:
        return _failed("inspect", error, bar)
    bar.close()
    if isinstance(report, BackupV2Inspection):
        print("\n".join(report.summary_lines()))
        return 0
    lines = [
        f"backup: {report.backup_path.name} ({report.file_size:,} bytes, every MAC verified "
        f"in {report.seconds:.1f} s)",
        f"format version: {report.backup_version}",
        f"database version: {report.database_version}",
        f"frames: {report.frames:,}",
        *(f"  {kind}: {count:,}" for kind, count in report.frames_by_kind.items()),
        "blobs:" if report.blob_counts else "blobs: none",
        *(
            f"  {kind}: {count:,} ({report.blob_bytes[kind]:,} bytes)"
            for kind, count in report.blob_counts.items()
        ),
        "table rows (INSERT statements):",
        *(f"  {table}: {count:,}" for table, count in report.table_rows.items()),
        *(f"warning: {warning}" for warning in report.warnings),
    ]
    print("\n".join(lines))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from astrabot_pipeline.synthetic import write_demo_backup

    existing = sorted(args.out.glob("*.backup")) if args.out.exists() else []
    if args.if_missing and existing:
        print(f"demo backup already present: {existing[-1]}")
        return 0
    demo = write_demo_backup(args.out, n_messages=args.messages, seed=args.seed)
    print(f"wrote demo backup {demo.path} ({demo.message_count} messages)")
    return 0


def _demo_passphrase(_: argparse.Namespace) -> int:
    from astrabot_pipeline.synthetic import DEMO_PASSPHRASE

    print(DEMO_PASSPHRASE)
    return 0


def _size(size: int) -> str:
    if size < 1000:
        return f"{size:,} bytes"
    return f"{size / 1000:,.1f} kB" if size < MB else f"{size / MB:,.1f} MB"


def _purge(args: argparse.Namespace) -> int:
    from astrabot_pipeline.privacy.purge import (
        PurgeError,
        everything_targets,
        measure,
        plaintext_targets,
        purge_paths,
    )

    data_dir = settings.data_dir()
    kept = (settings.backup_dir(),)
    targets = (everything_targets if args.all else plaintext_targets)(data_dir, keep=kept)
    if not targets:
        print(f"nothing to purge under {data_dir}")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            print(
                "astrabot purge: not a terminal: pass --yes to delete without asking",
                file=sys.stderr,
            )
            return 2
        print(f"about to delete under {data_dir}:")
        for target in targets:
            size, files = measure(target)
            print(f"  {target.relative_to(data_dir)} ({files:,} files, {_size(size)})")
        if input("delete these? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 1
    try:
        purged = purge_paths(data_dir, targets, keep=kept)
    except PurgeError as error:
        print(f"astrabot purge: {error}", file=sys.stderr)
        return 2
    for item in purged:
        print(f"deleted {item.path} ({item.files:,} files, {_size(item.size)})")
    total = sum(item.size for item in purged)
    print(f"purged {len(purged)} paths, {_size(total)}; kept backups/ and secrets/")
    if not args.all:
        print("re-materializing decoded_backup decodes the backup again")
    return 0


def _generation_settings(args: argparse.Namespace, max_new_tokens: int):
    from astrabot_pipeline.generation import GenerationSettings

    return GenerationSettings(
        max_new_tokens=max_new_tokens,
        temperature=args.temperature,
        max_lines=getattr(args, "max_lines", None),
        seed=getattr(args, "seed", None),
    )


def _chat(args: argparse.Namespace) -> int:
    from astrabot_pipeline.errors import SettingError
    from astrabot_pipeline.inference import (
        answer_once,
        load_adapter,
        read_adapter_info,
        run_chat,
    )

    if args.prompt is not None and not args.prompt.strip():
        raise SettingError("--prompt is empty: give the message to answer")
    generation = _generation_settings(args, args.max_new_tokens)
    adapter = _adapter(args)
    info = read_adapter_info(adapter)  # a wrong path fails before the model loads
    notices = _verdict_notices(info, force=args.force)  # a refusal comes before the load
    loaded = load_adapter(adapter, adapter_chat_template=args.adapter_chat_template)
    _print_notices("chat", [*notices, *loaded.notes])
    if args.prompt is not None:
        answer_once(loaded, args.prompt, generation, system=args.system)
    else:
        run_chat(loaded, generation, system=args.system)
    return 0


def _export(args: argparse.Namespace) -> int:
    from astrabot_pipeline.inference import export_model
    from astrabot_pipeline.inference.export_folder import check_export_folder

    check_export_folder(args.out)  # a refused folder fails before the model loads
    result = export_model(
        _adapter(args), args.out, reports_dir=settings.data_dir() / "reports", force=args.force
    )
    evaluation = "with" if result.evaluation_found else "no evaluation report found, so without"
    print(
        f"exported {result.parameters:,} parameters to {result.out_dir} "
        f"({_size(result.size_bytes)}, {len(result.files)} files, {result.seconds:.1f} s; "
        f"evaluation verdict: {result.verdict}; model card {evaluation} evaluation figures; "
        "Ollama Modelfile included)"
    )
    if result.verdict == "failed":
        print("astrabot export: the model card marks this model NOT FOR USE", file=sys.stderr)
    return 0


def _adapter(args: argparse.Namespace) -> Path:
    """`--adapter`, or the adapter of the last set that passed its evaluation."""
    if args.adapter is not None:
        return args.adapter
    from astrabot_pipeline.evaluation.verdict import approved_adapter
    from astrabot_pipeline.inference.errors import NoApprovedAdapterError

    approved = approved_adapter(settings.data_dir() / "models")
    if approved is None:
        raise NoApprovedAdapterError(
            "no --adapter given and no evaluated adapter has passed its checks yet: run "
            "`make run` (training and evaluation), or name one with --adapter"
        )
    return approved


def _verdict_notices(info: AdapterInfo, *, force: bool) -> list[str]:
    """Refuse an adapter that failed a privacy check (unless --force); else the line to print
    when it was not evaluated, was forced, or failed its quality check."""
    from astrabot_pipeline.inference.verdict_gate import verdict_notices

    return verdict_notices(info, force=force)


def _print_notices(command: str, notices: list[str]) -> None:
    """One line each on stderr, printed once the model has loaded (so that a refusal while
    loading is the only line)."""
    for notice in notices:
        print(f"astrabot {command}: {notice}", file=sys.stderr, flush=True)


def _serve(args: argparse.Namespace) -> int:
    import functools

    from astrabot_pipeline.errors import SettingError
    from astrabot_pipeline.inference import (
        ChatServer,
        ServeConfig,
        check_bind,
        generate_reply,
        load_adapter,
        read_adapter_info,
        read_token,
    )

    if not 0 <= args.port <= 65535:
        raise SettingError(f"--port must be between 0 and 65535, not {args.port}")
    _generation_settings(args, args.max_tokens_limit)  # checks the bounds and temperature
    if not 1 <= args.max_tokens <= args.max_tokens_limit:
        raise SettingError("--max-tokens must be between 1 and --max-tokens-limit")
    token = read_token(args.token_file)
    check_bind(args.host, token)
    adapter = _adapter(args)
    info = read_adapter_info(adapter)
    notices = _verdict_notices(info, force=args.force)
    config = ServeConfig(
        model_name=info.name,
        host=args.host,
        port=args.port,
        token=token,
        default_max_tokens=args.max_tokens,
        max_tokens_limit=args.max_tokens_limit,
        default_temperature=args.temperature,
    )
    server = ChatServer(config)  # bound before the slow load: a busy port fails at once
    try:
        loaded = load_adapter(adapter, adapter_chat_template=args.adapter_chat_template)
        server.backend = functools.partial(generate_reply, loaded)
    except BaseException:
        server.close()
        raise
    _print_notices("serve", [*notices, *loaded.notes])
    access = "bearer token required" if token else "no token: this machine only"
    print(
        f"astrabot serve: serving {info.name} at {server.url} ({access}); Ctrl-C stops", flush=True
    )
    interruption = server.serve_until_interrupted()
    if interruption is not None:
        cause = (
            "SIGTERM"
            if interrupts.exit_status(interruption) == interrupts.EXIT_TERMINATED
            else "Ctrl-C"
        )
        print(f"astrabot serve: stopped ({cause})", file=sys.stderr)
    return 0


ADAPTER_HELP = (
    "a trained stage's adapter folder, e.g. $ASTRABOT_DATA_DIR/models/lora_stage_3_burst "
    "(default: the last adapter set that passed its evaluation)"
)


def _model_arguments(
    parser: argparse.ArgumentParser,
    *,
    max_tokens_flag: str,
    max_tokens_default: int,
    note: str = "",
) -> None:
    """The options `chat` and `serve` share: which adapter, and how to sample (`note` ends
    the sampling options' help)."""
    parser.add_argument("--adapter", type=Path, help=ADAPTER_HELP)
    parser.add_argument(
        "--force",
        action="store_true",
        help="use the adapter even though its evaluation failed a privacy check (leakage, "
        "memorization); a warning is printed on every start",
    )
    parser.add_argument(
        "--adapter-chat-template",
        action="store_true",
        help="render prompts with the chat template saved in the adapter folder instead of "
        "the one astrabot trains with (needed for a model without ChatML tokens; it is "
        "rendered in a separate process under a time and size bound)",
    )
    parser.add_argument(
        max_tokens_flag,
        type=int,
        default=max_tokens_default,
        help=f"reply length limit in tokens (default {max_tokens_default}){note}",
    )
    parser.add_argument(
        "--temperature",
        type=float,
        default=DEFAULT_TEMPERATURE,
        help="sampling temperature; 0 = greedy, the same answer every time "
        f"(default {DEFAULT_TEMPERATURE}){note}",
    )


def build_parser() -> argparse.ArgumentParser:
    # No prefix matching: `--passphrase SECRET` must fail, not be read as --passphrase-file.
    parser = argparse.ArgumentParser(
        prog="astrabot", description=__doc__.splitlines()[0], allow_abbrev=False
    )
    commands = parser.add_subparsers(dest="command", required=True)

    decode = commands.add_parser(
        "decode",
        help="decode any supported Signal history into the normalized Parquet tables",
        allow_abbrev=False,
    )
    decode.add_argument(
        "backup",
        type=Path,
        help=".backup file, backup-v2 folder/main file, plaintext export (.zip/main.jsonl), "
        "Desktop db.sqlite or folder, decrypted Signal SQLite, or --exportcsv folder "
        "(secrets: SIGNAL_BACKUP_PASSPHRASE, SIGNAL_ACI, SIGNAL_DESKTOP_KEY)",
    )
    decode.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output folder: new or empty (an earlier astrabot decode output needs --force; "
        "a folder holding anything else is refused)",
    )
    decode.add_argument(
        "--force",
        action="store_true",
        help="replace an earlier astrabot decode output in --out (never a folder holding "
        "files astrabot did not write)",
    )
    decode.add_argument("--passphrase-file", type=Path, help="file holding the passphrase")
    decode.add_argument(
        "--no-attachments", action="store_true", help="MAC-check attachments but do not write them"
    )
    decode.add_argument(
        "--salvage",
        action="store_true",
        help="on a truncated or corrupted backup, keep what was decoded before the damage",
    )
    decode.add_argument(
        "--no-verify-mac",
        action="store_true",
        help="diagnostic only: skip MAC checks of frames and blobs (damage goes undetected)",
    )
    decode.set_defaults(handler=_decode)

    inspect = commands.add_parser(
        "inspect",
        help="MAC-check a .backup (or read a backup-v2 input or plaintext export) and print "
        "versions and counts, writing nothing",
        allow_abbrev=False,
    )
    inspect.add_argument("backup", type=Path)
    inspect.add_argument("--passphrase-file", type=Path, help="file holding the passphrase")
    inspect.set_defaults(handler=_inspect)

    demo = commands.add_parser("demo", help="write the synthetic encrypted demo backup")
    demo.add_argument("--out", type=Path, default=None, help="folder (default: backup dir)")
    demo.add_argument("--messages", type=int, default=20_000)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--if-missing", action="store_true", help="do nothing if a backup exists")
    demo.set_defaults(handler=_demo)

    purge = commands.add_parser(
        "purge",
        help="delete the decoded plaintext and raw-text intermediates under ASTRABOT_DATA_DIR",
        allow_abbrev=False,
    )
    purge.add_argument(
        "--all",
        action="store_true",
        help="also delete dataset/, canaries/, models/, reports/, exports/ and every asset "
        "output (never backups/ or secrets/)",
    )
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    purge.set_defaults(handler=_purge)

    chat = commands.add_parser(
        "chat",
        help="talk to a trained model in the terminal (offline; the conversation is never saved)",
        allow_abbrev=False,
    )
    _model_arguments(chat, max_tokens_flag="--max-new-tokens", max_tokens_default=128)
    chat.add_argument("--seed", type=int, help="seed for sampling (reproducible answers)")
    chat.add_argument(
        "--max-lines",
        type=int,
        help="most lines in a reply (default: the owner's 90th-percentile burst length, "
        "stored with the adapter)",
    )
    chat.add_argument("--prompt", help="answer this one message and exit")
    chat.add_argument("--system", help="a system message to start the conversation with")
    chat.set_defaults(handler=_chat)

    export = commands.add_parser(
        "export",
        help="write the adapter merged into its base (safetensors, tokenizer, model card, "
        "Ollama Modelfile)",
        allow_abbrev=False,
    )
    export.add_argument("--adapter", type=Path, help=ADAPTER_HELP)
    export.add_argument(
        "--force",
        action="store_true",
        help="export even when the adapter failed its evaluation (the model card then says "
        "it is not for use)",
    )
    export.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output folder: new, empty, or an earlier astrabot export (replaced); e.g. "
        "$ASTRABOT_DATA_DIR/exports/NAME, which `astrabot purge --all` deletes",
    )
    export.set_defaults(handler=_export)

    serve = commands.add_parser(
        "serve",
        help="answer OpenAI-compatible /v1/chat/completions with a trained model",
        allow_abbrev=False,
    )
    _model_arguments(
        serve,
        max_tokens_flag="--max-tokens",
        max_tokens_default=256,
        note="; a request's own value wins",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free)")
    serve.add_argument(
        "--token-file",
        type=Path,
        help="file holding the bearer token clients must send (or set ASTRABOT_SERVE_TOKEN); "
        "required to bind an address other than loopback",
    )
    serve.add_argument(
        "--max-tokens-limit",
        type=int,
        default=1024,
        help="largest max_tokens a request may ask for (default 1024)",
    )
    serve.set_defaults(handler=_serve)

    passphrase = commands.add_parser("demo-passphrase", help="print the demo backup's passphrase")
    passphrase.set_defaults(handler=_demo_passphrase)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; exit 2 with one line on a failure a user can hit, 130 on Ctrl-C and
    143 on SIGTERM (no traceback; a decode removes its partial output first)."""
    settings.harden_process()
    args = build_parser().parse_args(argv)
    if getattr(args, "out", "unset") is None:
        args.out = settings.backup_dir()
    try:
        with interrupts.signals_as_interrupts():
            return args.handler(args)
    except KeyboardInterrupt as interruption:
        status = interrupts.exit_status(interruption)
        cause = "SIGTERM" if status == interrupts.EXIT_TERMINATED else "Ctrl-C"
        print(f"astrabot {args.command}: interrupted ({cause})", file=sys.stderr)
        return status
    except AstrabotError as error:
        print(f"astrabot {args.command}: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        # Only the error's description and the file's name: never text read from a file.
        where = f" ({Path(error.filename).name})" if error.filename else ""
        reason = error.strerror or type(error).__name__
        print(f"astrabot {args.command}: {reason}{where}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
