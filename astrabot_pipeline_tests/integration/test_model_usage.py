"""Using a trained adapter: `astrabot chat`, `astrabot export` and `astrabot serve`, run as a
user would (the console script in a subprocess, real HTTP), on the tiny model."""

from __future__ import annotations

import functools
import http.client
import io
import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from astrabot_pipeline.settings import harden_process

harden_process()

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig  # noqa: E402

from astrabot_pipeline import cli  # noqa: E402
from astrabot_pipeline.evaluation import (  # noqa: E402
    Column,
    EvaluationReport,
    ReportSection,
    generate_replies,
    write_report,
)
from astrabot_pipeline.generation import GenerationSettings  # noqa: E402
from astrabot_pipeline.inference import (  # noqa: E402
    ChatServer,
    ExportFolderError,
    PromptTooLongError,
    ServeConfig,
    ServeSetupError,
    check_bind,
    export_model,
    generate_reply,
    load_adapter,
    read_adapter_info,
)
from astrabot_pipeline.inference.chat import printable  # noqa: E402
from astrabot_pipeline.training import (  # noqa: E402
    StageConfig,
    build_tiny_base_model,
    train_lora_stage,
)

pytestmark = pytest.mark.slow

# Planted in the training records only (never in the base model's tokenizer texts): it must
# not appear in anything an export writes, nor in what the commands print or log.
PLANTED = "quokkaplantedzebra"
TOKEN = "test-token-0123456789abcdef"
FOODS = ["pizza", "tacos", "ramen", "curry", "dumplings"]
QUESTION = "want pizza later?"
GREEDY = GenerationSettings(max_new_tokens=12, temperature=0)
LINE_CAP = 2  # the owner's burst length the training stage stores with the adapter


def base_texts() -> list[str]:
    return [
        f"hey, want {food} tonight? sure, {food} at {i % 9} sounds great, see you"
        for i, food in enumerate(FOODS * 12)
    ]


def records(count: int) -> list[dict]:
    return [
        {
            "messages": [
                {"role": "user", "content": f"want {FOODS[i % 5]} later? {PLANTED}"},
                {"role": "assistant", "content": f"yes {FOODS[i % 5]} at {i % 9} {PLANTED}"},
            ]
        }
        for i in range(count)
    ]


def astrabot(
    *args: str, env: dict[str, str] | None = None, **kwargs
) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "astrabot"), *args]
    return subprocess.run(
        command,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("model_usage")
    # Outside the data folder: the purge test deletes everything the data folder holds.
    base = build_tiny_base_model(base_texts(), root / "models" / "base-tiny")
    stage = root / "models" / "lora_stage_1_conversational"
    result = train_lora_stage(
        base,
        records(40),
        records(4),
        stage,
        StageConfig("conversational", max_steps=4),
        reply_line_cap=LINE_CAP,
    )
    adapter = Path(result.adapter_dir)  # stage/<run key>/, the finished run's adapter
    reports = root / "data" / "reports"
    # An evaluation report as the eval stage writes it; the card may copy its figures, never
    # its text (the note stands in for any text a report could hold).
    write_report(
        EvaluationReport(
            title="Evaluation report",
            base_model=base.name,
            profile="tiny",
            device="cpu",
            sample_sizes={"training_examples": 40, "test_examples": 4},
            sections=[
                ReportSection(
                    title="Test-slice perplexity",
                    key="perplexity",
                    columns=[
                        Column("loss", "Loss"),
                        Column("perplexity", "Perplexity"),
                        Column("tokens", "Tokens", "d"),
                    ],
                    rows={
                        "base": {"loss": 6.9, "perplexity": 990.0},
                        "conversational": {"loss": 6.1, "perplexity": 445.8, "tokens": 120},
                    },
                )
            ],
            notes=[f"a note quoting {PLANTED}"],
            adapters={"base": None, "conversational": adapter.name},
        ),
        reports,
    )
    return {
        "root": root,
        "data": root / "data",
        "base": base,
        "stage": stage,
        "adapter": adapter,
        "result": result,
    }


@pytest.fixture(scope="module")
def loaded(trained):
    return load_adapter(trained["adapter"])


def greedy_reply(loaded, text: str, max_new_tokens: int = 12) -> str:
    settings = GenerationSettings(max_new_tokens=max_new_tokens, temperature=0)
    return generate_reply(loaded, [{"role": "user", "content": text}], settings).text


# -- chat -------------------------------------------------------------------------------


def test_greedy_replies_are_deterministic_and_stop_within_the_budget(loaded):
    messages = [{"role": "user", "content": QUESTION}]
    first = generate_reply(loaded, messages, GREEDY)
    second = generate_reply(loaded, messages, GREEDY)
    assert first.text == second.text and first.token_ids == second.token_ids
    assert 1 <= first.completion_tokens <= GREEDY.max_new_tokens
    assert first.finish_reason in ("stop", "length")
    # A stop string ends the reply before it, streamed pieces included.
    word = re.search(r"[a-z]{2,}", first.text)
    assert word, "the trained model should write at least one word"
    pieces: list[str] = []
    stopped = generate_reply(
        loaded, messages, replace(GREEDY, stop=(word.group(),)), on_text=pieces.append
    )
    assert stopped.text == first.text[: word.start()].rstrip() == "".join(pieces)
    assert stopped.finish_reason == "stop"
    sampled = GenerationSettings(max_new_tokens=12, temperature=0.9, seed=7)
    assert (
        generate_reply(loaded, messages, sampled).token_ids
        == generate_reply(loaded, messages, sampled).token_ids
    )


def test_chat_and_the_evaluation_generate_the_same_reply_to_the_same_prompt(loaded):
    record = {
        "messages": [
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": "the owner's real reply"},
        ]
    }
    for settings in (GREEDY, GenerationSettings(max_new_tokens=12, temperature=0.9, seed=5)):
        chat = generate_reply(loaded, record["messages"][:1], settings)
        # The evaluation passes the stored cap itself (run.py); chat fills it in.
        capped = replace(settings, max_lines=LINE_CAP)
        evaluation = generate_replies(loaded.model, loaded.tokenizer, [record], capped)
        assert evaluation.texts == (chat.text,)


def test_the_stored_line_cap_is_read_back_with_the_adapter(trained, loaded):
    assert trained["result"].reply_line_cap == LINE_CAP
    assert loaded.reply_line_cap == LINE_CAP
    assert read_adapter_info(trained["stage"]).reply_line_cap == LINE_CAP


def test_the_oldest_turns_are_left_out_when_the_conversation_outgrows_the_context(loaded):
    turn = {"role": "user", "content": " ".join(FOODS * 8)}
    messages = [{"role": "system", "content": "be brief"}]
    messages += [turn, {"role": "assistant", "content": "ok"}] * 24 + [turn]
    reply = generate_reply(loaded, messages, GenerationSettings(max_new_tokens=4, temperature=0))
    assert reply.dropped_messages > 0
    assert reply.prompt_tokens + 4 <= loaded.context_tokens
    alone = [{"role": "user", "content": " ".join(FOODS * 200)}]
    with pytest.raises(PromptTooLongError, match="leave no room"):
        generate_reply(loaded, alone, GREEDY)


def test_chat_prompt_answers_once_through_the_console_script(trained, loaded):
    done = astrabot(
        "chat",
        "--adapter",
        str(trained["adapter"]),
        "--prompt",
        QUESTION,
        "--temperature",
        "0",
        "--max-new-tokens",
        "12",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == printable(greedy_reply(loaded, QUESTION)) + "\n"
    # Nothing but the answer and the one-line verdict notice: no library notice a user
    # cannot act on (library_notices.py).
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("astrabot chat: Not evaluated")


class TypedLines(io.StringIO):
    """What a person types, then Ctrl-C: a real SIGINT once the lines run out."""

    def readline(self, *args) -> str:
        line = super().readline(*args)
        if not line:
            signal.raise_signal(signal.SIGINT)
        return line


def test_chat_reads_turns_resets_and_ctrl_c_exits_130(trained, loaded, monkeypatch, capsys):
    # After /reset the same question gets the same greedy answer: the history is gone.
    monkeypatch.setattr(sys, "stdin", TypedLines(f"{QUESTION}\n/reset\n{QUESTION}\n"))
    status = cli.main(
        [
            "chat",
            "--adapter",
            str(trained["adapter"]),
            "--temperature",
            "0",
            "--max-new-tokens",
            "12",
        ]
    )
    out, errors = capsys.readouterr()
    assert status == 130
    answer = printable(greedy_reply(loaded, QUESTION))
    assert out == f"{answer}\n{answer}\n"
    assert "(conversation cleared)" in errors and "interrupted (Ctrl-C)" in errors
    assert QUESTION not in errors


def test_a_missing_adapter_is_one_line_and_exit_2(tmp_path, capsys):
    status = cli.main(["chat", "--adapter", str(tmp_path / "nope"), "--prompt", "hi"])
    out, errors = capsys.readouterr()
    assert status == 2 and out == ""
    assert errors.count("\n") == 1 and "no adapter folder" in errors


def test_a_stage_folder_stands_for_its_latest_finished_adapter(trained):
    from astrabot_pipeline.inference.adapter import read_adapter_info

    assert read_adapter_info(trained["stage"]).adapter_dir == trained["adapter"].resolve()


def test_an_adapter_whose_base_is_gone_says_which_base(trained, tmp_path):
    from astrabot_pipeline.inference import BaseModelUnavailableError

    moved = tmp_path / "adapter"
    moved.mkdir()
    for item in trained["adapter"].iterdir():
        (moved / item.name).write_bytes(item.read_bytes())
    result = json.loads((moved / "stage_result.json").read_text())
    (moved / "stage_result.json").write_text(
        json.dumps({**result, "base_model": str(tmp_path / "deleted-base")})
    )
    with pytest.raises(BaseModelUnavailableError, match="deleted-base.*no longer exists"):
        load_adapter(moved)


# -- adapter folders from elsewhere (docs/hostile-input.md) ------------------------------

SECRET_PROMPT = "my secret prompt about the harbour"
CHATML_TURNS = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + "
    "'<|im_end|>\n' }}{% endfor %}{{ '<|im_start|>assistant\n' }}"
)
# Empty loops of 10^10 turns: nothing is written, so only a clock can stop them.
ENDLESS_TEMPLATE = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"


class TimeLimit(BaseException):
    """Raised in the main thread when a command runs past the test's limit."""


def run_cli(argv: list[str], capsys, seconds: float = 30) -> tuple[object, str, str]:
    """`astrabot ARGV` in this process: (exit status, or what escaped `main` or the time
    limit, by name), stdout, stderr. Every outcome is a value, so a test fails by assertion."""

    def expire(*_) -> None:
        raise TimeLimit

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        status: object = cli.main(argv)
    except SystemExit as exit_:
        status = exit_.code
    except TimeLimit:
        status = f"still running after {seconds} s"
    except Exception as error:  # noqa: BLE001 - an escaped exception is the failure itself
        status = type(error).__name__
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    out, errors = capsys.readouterr()
    return status, out, errors


def crafted(trained, tmp_path: Path, *, template: str | None = None, passed: bool = True) -> Path:
    """A copy of the trained adapter, with its own `template` and a verdict that passed."""
    from astrabot_pipeline.evaluation.report.model import Check
    from astrabot_pipeline.evaluation.report.verdict import verdict_for, write_verdict

    folder = tmp_path / "adapter"
    folder.mkdir()
    for item in trained["adapter"].iterdir():
        (folder / item.name).write_bytes(item.read_bytes())
    if template is not None:
        config = json.loads((folder / "tokenizer_config.json").read_text())
        (folder / "tokenizer_config.json").write_text(
            json.dumps({**config, "chat_template": template})
        )
        (folder / "chat_template.jinja").write_text(template)
    check = Check("pii_leakage_score", passed, 0.0 if passed else 0.04, 0.01, "error", "leaks")
    write_verdict(verdict_for(folder, [check]))
    return folder


def chat_argv(adapter: Path, *extra: str) -> list[str]:
    return [
        *("chat", "--adapter", str(adapter), "--prompt", SECRET_PROMPT),
        *("--temperature", "0", "--max-new-tokens", "4", *extra),
    ]


def test_an_adapter_s_own_chat_template_is_set_aside_unless_asked_for(
    trained, loaded, tmp_path, capsys
):
    adapter = crafted(trained, tmp_path, template=ENDLESS_TEMPLATE)
    status, out, errors = run_cli(chat_argv(adapter), capsys)
    assert status == 0, errors
    assert out == printable(greedy_reply(loaded, SECRET_PROMPT, max_new_tokens=4)) + "\n"
    assert errors.count("\n") == 1 and "Template ignored" in errors


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        (ENDLESS_TEMPLATE, "ran past its time limit"),
        ("{% set s = 'x' * 400000000 %}" + CHATML_TURNS, "ran past its memory limit"),
        ("{{ 'x' * 5000000 }}" + CHATML_TURNS, "made a prompt past the size limit"),
        ("{{ messages.__class__.__mro__ }}", "failed (SecurityError)"),
        ("{{ raise_exception(messages[-1]['content']) }}", "failed (TemplateError)"),
    ],
    ids=["endless", "memory", "size", "escape", "raise-with-prompt"],
)
def test_an_adapter_s_own_chat_template_is_bounded_and_refused_in_one_line(
    trained, tmp_path, capsys, template, reason
):
    adapter = crafted(trained, tmp_path, template=template)
    status, out, errors = run_cli(chat_argv(adapter, "--adapter-chat-template"), capsys)
    assert status == 2 and out == ""
    assert errors.count("\n") == 1 and f"own chat template {reason}" in errors
    assert SECRET_PROMPT not in errors


def pickled_weights(folder: Path) -> None:
    (folder / "adapter_model.safetensors").unlink()
    (folder / "adapter_model.bin").write_bytes(b"\x80\x04cos\nsystem\n.")  # a pickle calling code


def remote_tokenizer(folder: Path) -> None:
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["auto_map"] = {"AutoTokenizer": ["evil.EvilTokenizer", None]}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    (folder / "evil.py").write_text("raise SystemExit('ran')\n")


def foreign_peft_type(folder: Path) -> None:
    config = json.loads((folder / "adapter_config.json").read_text())
    config.update(peft_type="EVIL", auto_mapping={"base_model_class": "Evil"})
    (folder / "adapter_config.json").write_text(json.dumps(config))


def damaged_tokenizer(folder: Path) -> None:
    (folder / "tokenizer.json").write_text('{"model": {"type": "BPE", "vocab": 5}}')


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (pickled_weights, "weights only as a pickle"),
        (remote_tokenizer, "defined by code in the folder"),
        (foreign_peft_type, "names a PEFT type or classes astrabot does not train"),
        (damaged_tokenizer, "cannot be read (KeyError)"),
    ],
    ids=["pickle", "remote-code-tokenizer", "remote-code-adapter", "damaged-tokenizer"],
)
def test_a_crafted_adapter_folder_is_refused_in_one_line(trained, tmp_path, capsys, damage, reason):
    adapter = crafted(trained, tmp_path)
    damage(adapter)
    status, out, errors = run_cli(chat_argv(adapter), capsys)
    assert status == 2 and out == ""
    assert errors.count("\n") == 1 and reason in errors
    assert SECRET_PROMPT not in errors


def test_a_privacy_failure_refuses_the_stage_s_newest_run_and_force_warns(
    trained, loaded, tmp_path, capsys
):
    adapter = crafted(trained, tmp_path, passed=False)
    stage = tmp_path / "lora_stage_1_conversational"
    stage.mkdir()
    adapter.rename(stage / trained["adapter"].name)
    (stage / "latest.json").write_text((trained["stage"] / "latest.json").read_text())
    status, out, errors = run_cli(chat_argv(stage), capsys)  # the README's --adapter form
    assert status == 2 and out == ""
    assert errors.count("\n") == 1 and "pii_leakage_score 0.04, limit 0.01" in errors
    status, out, errors = run_cli(chat_argv(stage, "--force"), capsys)
    assert status == 0 and out == printable(greedy_reply(loaded, SECRET_PROMPT, 4)) + "\n"
    assert errors.count("\n") == 1 and errors.startswith("astrabot chat: Used with --force")


# -- export -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(trained) -> Path:
    out = trained["data"] / "exports" / "mine"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ASTRABOT_DATA_DIR", str(trained["data"]))
        status = cli.main(["export", "--adapter", str(trained["adapter"]), "--out", str(out)])
    assert status == 0
    return out


def test_export_loads_without_peft_and_generates_the_same_greedy_tokens(exported, loaded):
    model = AutoModelForCausalLM.from_pretrained(exported, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(exported, local_files_only=True)
    assert type(model).__name__ == "Qwen2ForCausalLM"
    assert not any("lora_" in name for name, _ in model.named_parameters())
    config = GenerationConfig(
        max_new_tokens=16,
        do_sample=False,
        eos_token_id=list(loaded.stop_token_ids),
        pad_token_id=loaded.tokenizer.pad_token_id,
    )
    for question in (QUESTION, "tacos at the harbour?", "hey"):
        messages = [{"role": "user", "content": question}]
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert prompt == loaded.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        ids = torch.tensor([tokenizer(prompt, add_special_tokens=False)["input_ids"]])
        with torch.inference_mode():
            merged = model.generate(
                ids, attention_mask=torch.ones_like(ids), generation_config=config
            )
            adapted = loaded.model.generate(
                ids, attention_mask=torch.ones_like(ids), generation_config=config
            )
        assert merged.tolist() == adapted.tolist()


def test_export_is_private_and_holds_no_training_text(exported):
    assert stat.S_IMODE(exported.stat().st_mode) == 0o700
    names = set()
    for path in exported.rglob("*"):
        names.add(path.name)
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
        if path.is_file():
            assert PLANTED.encode() not in path.read_bytes(), path
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json"} <= names
    assert {"README.md", "Modelfile", ".astrabot-export"} <= names
    assert not any(name.startswith("adapter_") for name in names)
    assert not [p for p in exported.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_model_card_has_the_training_figures_evaluation_and_privacy_summary(exported, trained):
    card = (exported / "README.md").read_text()
    result = trained["result"]
    assert "`base-tiny` (a local model folder)" in card
    assert f"| training examples | {result.train_examples} |" in card
    assert f"| validation loss after the stage | {result.validation_loss_after:.4g} |" in card
    assert "| conversational (this model) | 6.1 | 445.8 | 120 |" in card
    assert "pseudonyms, not your contacts' real names" in card
    assert "ollama create" in card and "convert_hf_to_gguf" in card
    assert str(trained["root"]) not in card  # paths are cut to their last part
    modelfile = (exported / "Modelfile").read_text()
    assert modelfile.count("FROM .\n") == 1
    assert 'PARAMETER stop "<|im_end|>"' in modelfile
    assert 'TEMPLATE """{{- range .Messages }}<|im_start|>{{ .Role }}' in modelfile


def test_export_replaces_an_earlier_export_but_refuses_foreign_folders(exported, trained, tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ExportFolderError, match="not an earlier astrabot export"):
        export_model(trained["adapter"], foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]

    again = export_model(trained["adapter"], exported)  # ours: replaced
    assert again.out_dir == exported and (exported / "model.safetensors").is_file()
    (exported / "added-by-me.txt").write_text("mine")
    with pytest.raises(ExportFolderError, match="1 entry it did not write"):
        export_model(trained["adapter"], exported)
    (exported / "added-by-me.txt").unlink()


def test_purge_all_deletes_exports(exported, trained):
    done = astrabot("purge", "--all", "--yes", env={"ASTRABOT_DATA_DIR": str(trained["data"])})
    assert done.returncode == 0, done.stderr
    assert not (trained["data"] / "exports").exists()


# -- serve ------------------------------------------------------------------------------


def test_serving_beyond_loopback_needs_a_token():
    with pytest.raises(ServeSetupError, match="without a bearer token"):
        check_bind("0.0.0.0", None)
    check_bind("0.0.0.0", TOKEN)
    check_bind("127.0.0.1", None)
    check_bind("::1", None)


def call(
    url: str,
    body: bytes | None = None,
    token: str | None = TOKEN,
    headers: dict[str, str] | None = None,
):
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def oversized_request_status(base: str) -> int:
    """Announce a body over the 1 MiB bound: the server answers before reading any of it."""
    host, port = base.removeprefix("http://").split("/")[0].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest("POST", "/v1/chat/completions")
        connection.putheader("Authorization", f"Bearer {TOKEN}")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str((1 << 20) + 1))
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def test_serve_answers_openai_requests_over_http_and_stops_on_sigterm(trained, loaded, tmp_path):
    log = tmp_path / "serve.log"
    with log.open("w") as errors:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "astrabot"), "serve"]
            + ["--adapter", str(trained["adapter"]), "--port", "0", "--temperature", "0"],
            env={**os.environ, "ASTRABOT_SERVE_TOKEN": TOKEN},
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    watchdog = threading.Timer(90, process.kill)
    watchdog.start()
    try:
        banner = process.stdout.readline()
        assert "serving lora_stage_1_conversational at http://127.0.0.1:" in banner, log.read_text()
        base = banner.split(" at ")[1].split(" ")[0]

        assert call(f"{base}/models", token=None)[0] == 401
        status, headers, body = call(f"{base}/models", token="wrong-token-0123456789")
        assert status == 401 and headers["WWW-Authenticate"] == "Bearer"
        assert json.loads(body)["error"]["code"] == "invalid_api_key"
        status, _, body = call(f"{base}/models")
        assert status == 200
        assert json.loads(body)["data"][0]["id"] == "lora_stage_1_conversational"

        expected = greedy_reply(loaded, QUESTION, max_new_tokens=10)
        request = {"model": "any", "messages": [{"role": "user", "content": QUESTION}]}
        request["max_tokens"] = 10
        status, _, body = call(f"{base}/chat/completions", json.dumps(request).encode())
        assert status == 200, body
        completion = json.loads(body)
        assert completion["object"] == "chat.completion"
        assert completion["choices"][0]["message"] == {"role": "assistant", "content": expected}
        assert 1 <= completion["usage"]["completion_tokens"] <= 10

        streamed = {**request, "stream": True, "stream_options": {"include_usage": True}}
        status, headers, body = call(f"{base}/chat/completions", json.dumps(streamed).encode())
        assert status == 200 and headers["Content-Type"] == "text/event-stream"
        events = [line[len("data: ") :] for line in body.decode().split("\n\n") if line]
        assert events[-1] == "[DONE]"
        chunks = [json.loads(event) for event in events[:-1]]
        assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
        assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
        assert text == expected
        assert chunks[-1]["usage"] == completion["usage"]

        status, _, body = call(f"{base}/chat/completions", b"{not json")
        assert status == 400 and "error" in json.loads(body)
        bad = {"messages": [{"role": "tool", "content": "x"}]}
        assert call(f"{base}/chat/completions", json.dumps(bad).encode())[0] == 400
        huge = {**request, "max_tokens": 100_000}
        assert call(f"{base}/chat/completions", json.dumps(huge).encode())[0] == 400
        assert oversized_request_status(base) == 413
        assert call(f"{base}/nowhere")[0] == 404
        too_long = {"messages": [{"role": "user", "content": " ".join(FOODS * 200)}]}
        status, _, body = call(f"{base}/chat/completions", json.dumps(too_long).encode())
        assert status == 400 and json.loads(body)["error"]["code"] == "context_length_exceeded"

        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
    output = log.read_text()
    assert process.returncode == 0, output
    assert "stopped (SIGTERM)" in output and "Traceback" not in output
    assert "POST /v1/chat/completions 200 prompt_tokens=" in output
    assert QUESTION not in output and PLANTED not in output and TOKEN not in output


def test_without_a_token_only_this_machine_s_json_requests_are_answered(loaded):
    server = ChatServer(
        ServeConfig(model_name="m", port=0), backend=functools.partial(generate_reply, loaded)
    )
    with server.serving_in_background() as base:
        assert call(f"{base}/models", token=None)[0] == 200
        # A web page whose name resolves to 127.0.0.1 (DNS rebinding) names itself as Host.
        assert call(f"{base}/models", token=None, headers={"Host": "evil.example"})[0] == 403
        request = json.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
        status, _, body = call(
            f"{base}/chat/completions",
            request.encode(),
            token=None,
            headers={"Content-Type": "text/plain"},  # what a cross-site form can send
        )
        assert status == 415 and "application/json" in json.loads(body)["error"]["message"]
        status, _, body = call(f"{base}/chat/completions", request.encode(), token=None)
        assert status == 200 and json.loads(body)["usage"]["completion_tokens"] <= 2
