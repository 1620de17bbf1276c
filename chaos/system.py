"""Running the system tools hubchaos drives (ip, iptables, tc, nsenter), with one-line errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from contract.errors import RunError


class CommandFailed(RunError):
    """A system command exited non-zero; the message is its command line and its stderr."""

    def __init__(self, cmd: list[str], code: int, stderr: str) -> None:
        detail = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit code {code}"
        super().__init__(f"{' '.join(cmd)}: {detail}")
        self.cmd = cmd
        self.code = code
        self.stderr = stderr


def run(
    cmd: list[str], check: bool = True, timeout: float = 30.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    try:
        if _patched_by_gevent():
            from chaos import greenspawn  # noqa: PLC0415 - only the drill's process has gevent running

            done = greenspawn.run(cmd, timeout, env)
        else:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    except FileNotFoundError:
        raise CommandFailed(cmd, 127, f"{cmd[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise CommandFailed(cmd, -1, f"no answer within {timeout:g} s") from None
    if check and done.returncode != 0:
        raise CommandFailed(cmd, done.returncode, done.stderr)
    return done


def _patched_by_gevent() -> bool:
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("os"))


def is_root() -> bool:
    return os.geteuid() == 0


def have(tool: str) -> bool:
    return shutil.which(tool) is not None
