"""Test-only egress guard, loaded by every Python process started with this folder on
PYTHONPATH (the e2e materialization and the decoder it launches).

Every connection, datagram or name lookup for a destination that is not loopback is
appended to $ASTRABOT_EGRESS_LOG (pid, kind, host, port: destinations only, never
payloads) and refused. Each guarded process writes "armed <pid>" to
$ASTRABOT_EGRESS_LOG.armed, so a test can tell the guard was really in place.
"""

from __future__ import annotations

import ipaddress
import os
import socket

_LOG = os.environ.get("ASTRABOT_EGRESS_LOG")
_LOCAL_NAMES = {"", "localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _is_loopback(host: object) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    name = str(host).split("%", 1)[0].strip("[]").lower()
    if name in _LOCAL_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def _refuse(kind: str, host: object, port: object) -> None:
    with open(_LOG, "a", encoding="utf-8") as log:  # type: ignore[arg-type]
        log.write(f"{os.getpid()} {kind} {host} {port}\n")
    raise ConnectionRefusedError(f"egress guard: {kind} to {host}:{port} refused (not loopback)")


def _check(kind: str, address: object) -> None:
    if isinstance(address, tuple) and address and not _is_loopback(address[0]):
        _refuse(kind, address[0], address[1] if len(address) > 1 else None)
    # Anything else is a Unix socket path or an abstract address: local by definition.


def _install() -> None:
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_sendto = socket.socket.sendto
    original_getaddrinfo = socket.getaddrinfo
    original_create_connection = socket.create_connection

    def connect(self, address):
        _check("connect", address)
        return original_connect(self, address)

    def connect_ex(self, address):
        _check("connect_ex", address)
        return original_connect_ex(self, address)

    def sendto(self, data, *args):
        _check("sendto", args[-1] if args else None)
        return original_sendto(self, data, *args)

    def getaddrinfo(host, port, *args, **kwargs):
        if not _is_loopback(host):
            try:
                _refuse("getaddrinfo", host, port)
            except ConnectionRefusedError as refused:
                raise socket.gaierror(socket.EAI_NONAME, str(refused)) from None
        return original_getaddrinfo(host, port, *args, **kwargs)

    def create_connection(address, *args, **kwargs):
        _check("create_connection", address)
        return original_create_connection(address, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.socket.sendto = sendto
    socket.getaddrinfo = getaddrinfo
    socket.create_connection = create_connection
    with open(f"{_LOG}.armed", "a", encoding="utf-8") as armed:
        armed.write(f"armed {os.getpid()}\n")


if _LOG:
    _install()
