"""mongod's command-line flags, as far as the emulator honours them."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class MemberOptions:
    port: int = 27017
    bind_ip: tuple[str, ...] = ("127.0.0.1",)
    repl_set: str | None = None
    dbpath: Path = Path("/data/db")
    logpath: Path | None = None
    quiet: bool = False
    oplog_size_mb: int = 64
    set_parameters: dict[str, str] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mongoemu",
        description="A MongoDB replica-set member emulator that takes mongod's flags.",
        allow_abbrev=False,
    )
    p.add_argument("--port", type=int, default=27017)
    p.add_argument("--bind_ip", default="127.0.0.1", help="comma-separated addresses")
    p.add_argument("--bind_ip_all", action="store_true")
    p.add_argument("--replSet", dest="repl_set")
    p.add_argument("--dbpath", default="/data/db")
    p.add_argument("--logpath")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--oplogSize", dest="oplog_size_mb", type=int, default=64, help="megabytes")
    p.add_argument("--setParameter", dest="set_parameters", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--version", action="store_true")
    return p


def parse(argv: list[str]) -> tuple[MemberOptions, bool]:
    """Return the options and whether only the version was asked for. Flags mongod knows but
    the emulator does not honour are accepted and listed in `ignored` (the caller warns)."""
    args, unknown = _parser().parse_known_args(argv)
    if not 0 < args.port < 65536:
        raise SystemExit(f"mongoemu: --port {args.port} is not a TCP port")
    params: dict[str, str] = {}
    for item in args.set_parameters:
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"mongoemu: --setParameter {item!r} is not NAME=VALUE")
        params[name] = value
    bind = (
        ("0.0.0.0",) if args.bind_ip_all else tuple(a.strip() for a in args.bind_ip.split(",") if a.strip())
    )
    ignored = tuple(a for a in unknown if a.startswith("-"))
    return (
        MemberOptions(
            port=args.port,
            bind_ip=bind,
            # mongod accepts a seed list as "rs0/host1,host2"; only the name matters here.
            repl_set=args.repl_set.split("/")[0] if args.repl_set else None,
            dbpath=Path(args.dbpath),
            logpath=Path(args.logpath) if args.logpath else None,
            quiet=args.quiet,
            oplog_size_mb=args.oplog_size_mb,
            set_parameters=params,
            ignored=ignored,
        ),
        bool(args.version),
    )
