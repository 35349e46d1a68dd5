"""What `astrabot serve` accepts: chat-completions request validation, bind and token rules."""

from __future__ import annotations

import json

import pytest

from astrabot_pipeline.inference.errors import ServeSetupError
from astrabot_pipeline.inference.openai_api import BadRequest, parse_chat_request
from astrabot_pipeline.inference.serve_defaults import TOKEN_ENV
from astrabot_pipeline.inference.server import check_bind, is_loopback, read_token

SECRET_TEXT = "meet me at the old lighthouse"
LIMITS = {"default_max_tokens": 64, "max_tokens_limit": 256, "default_temperature": 0.7}


def parse(payload) -> object:
    return parse_chat_request(json.dumps(payload).encode(), **LIMITS)


def test_a_typical_request_is_read_with_the_server_defaults():
    request = parse(
        {
            "model": "whatever",
            "messages": [
                {"role": "developer", "content": "be brief"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "there"}],
                },
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": "ok?", "name": "Sam"},
            ],
            "stream": True,
            "stream_options": {"include_usage": True},
            "stop": "\n\n",
            "seed": 3,
            "logit_bias": {},  # unknown fields are ignored
        }
    )
    assert request.messages == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi\nthere"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "ok?"},
    ]
    assert request.stream and request.include_usage
    settings = request.settings
    assert (settings.max_new_tokens, settings.temperature, settings.seed) == (64, 0.7, 3)
    assert settings.stop == ("\n\n",)


def test_max_completion_tokens_wins_and_temperature_zero_is_greedy():
    request = parse(
        {
            "messages": [{"role": "user", "content": "x"}],
            "max_tokens": 10,
            "max_completion_tokens": 20,
            "temperature": 0,
        }
    )
    assert request.settings.max_new_tokens == 20 and request.settings.greedy


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({"messages": []}, "messages"),
        ({"messages": "hello"}, "messages"),
        ({"messages": [{"role": "tool", "content": SECRET_TEXT}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": None}]}, "messages[0].content"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "messages[0].content",
        ),
        ({"messages": [{"role": "user", "content": SECRET_TEXT}], "max_tokens": 0}, "max_tokens"),
        ({"messages": [{"role": "user", "content": SECRET_TEXT}], "max_tokens": 257}, "max_tokens"),
        (
            {"messages": [{"role": "user", "content": SECRET_TEXT}], "max_tokens": True},
            "max_tokens",
        ),
        ({"messages": [{"role": "user", "content": SECRET_TEXT}], "n": 2}, "n"),
        ({"messages": [{"role": "user", "content": SECRET_TEXT}], "stream": "yes"}, "stream"),
        ({"messages": [{"role": "user", "content": SECRET_TEXT}], "stop": [1]}, "stop"),
        (
            {"messages": [{"role": "user", "content": SECRET_TEXT}], "temperature": "hot"},
            "temperature",
        ),
        ({"messages": [{"role": "user", "content": SECRET_TEXT}], "seed": 1.5}, "seed"),
        ({"messages": [{"role": "user", "content": SECRET_TEXT}], "seed": 2**64}, "seed"),
        ({"messages": [{"role": "user", "content": SECRET_TEXT}], "seed": -(2**63) - 1}, "seed"),
    ],
)
def test_bad_requests_name_the_parameter_and_never_echo_the_text(payload, param):
    with pytest.raises(BadRequest) as caught:
        parse(payload)
    assert caught.value.param == param
    assert SECRET_TEXT not in str(caught.value)


@pytest.mark.parametrize(
    "payload",
    [
        {"messages": [{"role": "user", "content": "x"}], "temperature": 2.5},
        {"messages": [{"role": "user", "content": "x"}], "top_p": 0},
        {"messages": [{"role": "user", "content": "x"}], "stop": ["a", "b", "c", "d", "e"]},
    ],
)
def test_out_of_range_sampling_settings_are_bad_requests(payload):
    with pytest.raises(BadRequest):
        parse(payload)


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe", b""])
def test_a_body_that_is_not_a_json_object_is_a_bad_request(body):
    with pytest.raises(BadRequest):
        parse_chat_request(body, **LIMITS)


def test_json_nested_past_the_parser_bound_is_a_bad_request_not_a_recursion_error():
    body = b'{"messages": [{"role": "user", "content": "x"}], "extra": ' + b"[" * 5000
    with pytest.raises(BadRequest, match="deeper than 200 levels"):
        parse_chat_request(body + b"]" * 5000 + b"}", **LIMITS)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
    ],
)
def test_loopback_addresses_are_told_apart(host, loopback):
    assert is_loopback(host) is loopback


def test_only_loopback_may_go_without_a_token():
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", "a-long-enough-token-1234")
    with pytest.raises(ServeSetupError, match="without a bearer token"):
        check_bind("0.0.0.0", None)


def test_the_token_comes_from_its_file_first_then_the_environment(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("file-token-0123456789\n")
    token_file.chmod(0o600)
    environ = {TOKEN_ENV: "env-token-0123456789"}
    assert read_token(token_file, environ) == "file-token-0123456789"
    assert read_token(None, environ) == "env-token-0123456789"
    assert read_token(None, {}) is None


@pytest.mark.parametrize("token", ["short", "has a space in it 1234", "tab\there-0123456789"])
def test_weak_or_malformed_tokens_are_refused_without_showing_them(token):
    with pytest.raises(ServeSetupError) as caught:
        read_token(None, {TOKEN_ENV: token})
    assert token not in str(caught.value)


def test_an_unreadable_token_file_is_a_setup_error(tmp_path):
    with pytest.raises(ServeSetupError, match="cannot read the token file"):
        read_token(tmp_path / "missing", {})
