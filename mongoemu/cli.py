"""`mongoemu`: run one emulated replica-set member with mongod's flags."""

from __future__ import annotations

import asyncio
import logging
import sys

# Importing the handler modules registers their commands.
import mongoemu.commands  # noqa: F401
from mongoemu import logs
from mongoemu.member import DbPathLocked, Member
from mongoemu.options import parse
from mongoemu.version import VERSION

log = logging.getLogger("mongoemu.control")

# mongod's exit codes for the failures a caller can act on.
EXIT_NET_ERROR = 48
EXIT_DBPATH = 100


def main(argv: list[str] | None = None) -> int:
    options, version_only = parse(sys.argv[1:] if argv is None else argv)
    if version_only:
        print(f"db version v{VERSION}")
        return 0
    logs.configure(options.logpath, options.quiet)
    for flag in options.ignored:
        log.warning(
            "ignoring a mongod option the emulator does not implement", extra={"attr": {"option": flag}}
        )
    try:
        member = Member(options)
    except DbPathLocked as exc:
        print(f"mongoemu: {exc}", file=sys.stderr)
        return EXIT_DBPATH
    except OSError as exc:
        print(f"mongoemu: cannot use --dbpath {options.dbpath}: {exc.strerror}", file=sys.stderr)
        return EXIT_DBPATH
    try:
        asyncio.run(member.run())
    except OSError as exc:
        print(f"mongoemu: cannot listen on port {options.port}: {exc.strerror}", file=sys.stderr)
        return EXIT_NET_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
