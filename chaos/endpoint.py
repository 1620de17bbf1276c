"""`HOST:PORT` as the command line and scenarios write a Locust master's address."""

from __future__ import annotations

from dataclasses import dataclass

LOCUST_PORT = 5557  # Locust's own default master port
ANY_HOST = "0.0.0.0"


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """`HOST:PORT`, or `HOST` (Locust's port); ValueError saying what is wrong."""
        host, sep, port = text.strip().rpartition(":")
        if not sep:
            host, port = text.strip(), str(LOCUST_PORT)
        if not host or host.isdigit():
            raise ValueError(f"{text!r}: expected HOST:PORT, e.g. 0.0.0.0:{LOCUST_PORT}")
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"{text!r}: the port must be a number from 1 to 65535")
        return cls(host, int(port))

    def from_this_machine(self) -> str:
        """`HOST:PORT` a process on this machine connects to (a bind to every interface: loopback)."""
        host = "127.0.0.1" if self.host in (ANY_HOST, "*") else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"
