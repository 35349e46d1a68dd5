"""`astrabot chat`, `astrabot export` and `astrabot serve`: using a trained adapter.

Loading a model needs torch and transformers: the handlers import the inference code, so
the other commands (and the decoder image) never load it. Only the defaults the options
show are read when the parser is built.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from astrabot_pipeline import interrupts, settings
from astrabot_pipeline.cli.sizes import readable_size
from astrabot_pipeline.data_layout import MODELS, REPORTS
from astrabot_pipeline.generation.settings import DEFAULT_MAX_NEW_TOKENS, DEFAULT_TEMPERATURE
from astrabot_pipeline.inference.serve_defaults import (
    DEFAULT_HOST,
    DEFAULT_MAX_TOKENS,
    DEFAULT_MAX_TOKENS_LIMIT,
    DEFAULT_PORT,
    TOKEN_ENV,
)

if TYPE_CHECKING:
    from astrabot_pipeline.generation import GenerationSettings
    from astrabot_pipeline.inference.adapter import AdapterInfo

ADAPTER_HELP = (
    "a trained stage's adapter folder, e.g. $ASTRABOT_DATA_DIR/models/lora_stage_3_burst "
    "(default: the last adapter set that passed its evaluation)"
)


def _generation_settings(args: argparse.Namespace, max_new_tokens: int) -> GenerationSettings:
    from astrabot_pipeline.generation import GenerationSettings

    return GenerationSettings(
        max_new_tokens=max_new_tokens,
        temperature=args.temperature,
        max_lines=getattr(args, "max_lines", None),
        seed=getattr(args, "seed", None),
    )


def chosen_adapter(args: argparse.Namespace) -> Path:
    """`--adapter`, or the adapter of the last set that passed its evaluation."""
    if args.adapter is not None:
        return args.adapter
    from astrabot_pipeline.evaluation.report.verdict import approved_adapter
    from astrabot_pipeline.inference.errors import NoApprovedAdapterError

    approved = approved_adapter(settings.data_dir() / MODELS)
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


def print_notices(command: str, notices: list[str]) -> None:
    """One line each on stderr, printed once the model has loaded (so that a refusal while
    loading is the only line)."""
    for notice in notices:
        print(f"astrabot {command}: {notice}", file=sys.stderr, flush=True)


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
    adapter = chosen_adapter(args)
    info = read_adapter_info(adapter)  # a wrong path fails before the model loads
    notices = _verdict_notices(info, force=args.force)  # a refusal comes before the load
    loaded = load_adapter(adapter, adapter_chat_template=args.adapter_chat_template)
    print_notices("chat", [*notices, *loaded.notes])
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
        chosen_adapter(args),
        args.out,
        reports_dir=settings.data_dir() / REPORTS,
        force=args.force,
    )
    evaluation = "with" if result.evaluation_found else "no evaluation report found, so without"
    print(
        f"exported {result.parameters:,} parameters to {result.out_dir} "
        f"({readable_size(result.size_bytes)}, {len(result.files)} files, "
        f"{result.seconds:.1f} s; evaluation verdict: {result.verdict}; model card "
        f"{evaluation} evaluation figures; Ollama Modelfile included)"
    )
    if result.verdict == "failed":
        print("astrabot export: the model card marks this model NOT FOR USE", file=sys.stderr)
    return 0


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
    adapter = chosen_adapter(args)
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
    print_notices("serve", [*notices, *loaded.notes])
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


def register(commands: argparse._SubParsersAction) -> None:
    """Add `chat`, `export` and `serve` to the `astrabot` parser's `commands`."""
    chat = commands.add_parser(
        "chat",
        help="talk to a trained model in the terminal (offline; the conversation is never saved)",
        allow_abbrev=False,
    )
    _model_arguments(
        chat, max_tokens_flag="--max-new-tokens", max_tokens_default=DEFAULT_MAX_NEW_TOKENS
    )
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
        max_tokens_default=DEFAULT_MAX_TOKENS,
        note="; a request's own value wins",
    )
    serve.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})"
    )
    serve.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free)"
    )
    serve.add_argument(
        "--token-file",
        type=Path,
        help=f"file holding the bearer token clients must send (or set {TOKEN_ENV}); "
        "required to bind an address other than loopback",
    )
    serve.add_argument(
        "--max-tokens-limit",
        type=int,
        default=DEFAULT_MAX_TOKENS_LIMIT,
        help=f"largest max_tokens a request may ask for (default {DEFAULT_MAX_TOKENS_LIMIT})",
    )
    serve.set_defaults(handler=_serve)
