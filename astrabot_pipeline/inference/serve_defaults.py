"""`astrabot serve`'s defaults, written once for the server and the command line.

Imports nothing, so `astrabot --help` (and the decoder image, which has no server) can
show them without loading the server or a model.
"""

from __future__ import annotations

DEFAULT_HOST = "127.0.0.1"  # loopback: only this machine; any other address needs a token
DEFAULT_PORT = 8000
DEFAULT_MAX_TOKENS = 256  # a reply's length limit when the request names none
DEFAULT_MAX_TOKENS_LIMIT = 1024  # the largest max_tokens a request may ask for
TOKEN_ENV = "ASTRABOT_SERVE_TOKEN"  # the bearer token, when no --token-file is given

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_MAX_TOKENS_LIMIT",
    "DEFAULT_PORT",
    "TOKEN_ENV",
]
