"""The `hubchaos` program's entry point.

`hubchaos run` and `hubchaos worker` drive Locust's users, which run on gevent; gevent's monkey
patching must come before anything imports socket, ssl or threading users such as PyMongo, so it happens here,
before the command line (and everything it imports) is loaded. Other commands stay unpatched.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] in (["run"], ["worker"]):
        from gevent import monkey  # noqa: PLC0415

        monkey.patch_all()
    from chaos.cli import main as cli  # noqa: PLC0415

    cli()
