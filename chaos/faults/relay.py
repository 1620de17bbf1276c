"""A transparent delay relay: latency and jitter on a member's real links, without netem.

Why not a proxy in front of the member: drivers discover the set's members from `hello` and
connect to the advertised addresses, so a proxy on another address is bypassed after the
first round trip. This relay sits *on* the member's own path instead, inside its network
namespace, with iptables REDIRECT (nat table):

    PREROUTING  tcp to the member's port      -> relay   (clients and other members coming in)
    OUTPUT      tcp to the other members      -> relay   (the member's own outgoing links)

The relay finds each connection's real destination with SO_ORIGINAL_DST, connects to it
(with a firewall mark, so its own connection is not redirected again) and copies bytes both
ways. What the member *sends* is held back by the delay (plus a uniform jitter, never
reordering bytes), which is what netem on the member's interfaces does: every round trip
that involves the member gets longer by the configured latency.

Run as `python -m chaos.faults.relay --label L --delay-ms D ...` inside the namespace; it
prints `listening <port>` once, then serves until killed. Its command line carries the label,
so a heal (or a sweep) finds it by label.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable

import psutil

from contract.errors import FaultError

SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h
MARK = 0x6863  # "hc": the relay's own upstream connections carry it
CHUNK = 64 * 1024


def original_destination(sock: socket.socket) -> tuple[str, int]:
    raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port, packed = struct.unpack_from("!2xH4s", raw)
    return socket.inet_ntoa(packed), port


class Delay:
    """Release times for chunks of one stream: arrival + latency ± jitter, never before the
    previous chunk (a TCP stream cannot be reordered)."""

    def __init__(self, delay_ms: float, jitter_ms: float, rng: random.Random) -> None:
        self.delay = delay_ms / 1000.0
        self.jitter = jitter_ms / 1000.0
        self.rng = rng
        self.last = 0.0

    def release_at(self, arrival: float) -> float:
        sample = self.delay + (self.rng.uniform(-self.jitter, self.jitter) if self.jitter else 0.0)
        self.last = max(self.last, arrival + max(0.0, sample))
        return self.last


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        _close(writer)


async def _delayed_pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: Delay) -> None:
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def receive() -> None:
        try:
            while data := await reader.read(CHUNK):
                queue.put_nowait((delay.release_at(time.monotonic()), data))
        except (ConnectionError, OSError):
            pass
        queue.put_nowait((delay.release_at(time.monotonic()), b""))

    receiver = asyncio.ensure_future(receive())
    try:
        while True:
            release, data = await queue.get()
            wait = release - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        receiver.cancel()
        _close(writer)


def _close(writer: asyncio.StreamWriter) -> None:
    try:
        writer.close()
    except (ConnectionError, OSError, RuntimeError):
        pass


class Relay:
    def __init__(self, member_port: int, delay_ms: float, jitter_ms: float, seed: int | None) -> None:
        self.member_port = member_port
        self.delay_ms = delay_ms
        self.jitter_ms = jitter_ms
        self.rng = random.Random(seed)
        self.local_ips: set[str] = set()

    async def handle(self, down_reader: asyncio.StreamReader, down_writer: asyncio.StreamWriter) -> None:
        sock = down_writer.get_extra_info("socket")
        try:
            host, port = original_destination(sock)
        except OSError:
            _close(down_writer)
            return
        inbound = port == self.member_port and host in self.local_ips
        up = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        up.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, MARK)
        up.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(up, (host, port))
            up_reader, up_writer = await asyncio.open_connection(sock=up)
        except OSError:
            up.close()
            _close(down_writer)
            return
        delay = Delay(self.delay_ms, self.jitter_ms, random.Random(self.rng.random()))
        # The member's own bytes are the ones delayed: its answers on inbound connections, its
        # requests on the connections it opened.
        if inbound:
            legs = (_pipe(down_reader, up_writer), _delayed_pipe(up_reader, down_writer, delay))
        else:
            legs = (_delayed_pipe(down_reader, up_writer, delay), _pipe(up_reader, down_writer))
        await asyncio.gather(*legs)

    async def serve(self) -> None:
        self.local_ips = {
            a.address for addrs in psutil.net_if_addrs().values() for a in addrs if a.family == socket.AF_INET
        }
        server = await asyncio.start_server(self.handle, "0.0.0.0", 0)
        port = server.sockets[0].getsockname()[1]
        sys.stdout.write(f"listening {port}\n")
        sys.stdout.close()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with server:
            await stop.wait()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hubchaos-relay", description=__doc__.splitlines()[0])
    p.add_argument("--label", required=True, help="the fault's hubchaos label (for heals and sweeps)")
    p.add_argument("--member-port", type=int, required=True)
    p.add_argument("--delay-ms", type=float, required=True)
    p.add_argument("--jitter-ms", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=None)
    args = p.parse_args(argv)
    asyncio.run(Relay(args.member_port, args.delay_ms, args.jitter_ms, args.seed).serve())
    return 0


# --- used by the degrade fault --------------------------------------------------------------


def start(prefix: list[str], label: str, member_port: int, delay_ms: float, jitter_ms: float) -> int:
    """Start a relay in the namespace `prefix` enters; return the port it listens on."""
    cmd = [*prefix, sys.executable, "-m", "chaos.faults.relay", "--label", label]
    cmd += ["--member-port", str(member_port), "--delay-ms", f"{delay_ms:g}", "--jitter-ms", f"{jitter_ms:g}"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    proc.stdout.close()
    if not line.startswith("listening "):
        proc.kill()
        raise FaultError(f"the delay relay did not start (exit code {proc.wait()})")
    return int(line.split()[1])


def stop(label_prefix: str, keep: Callable[[str], bool] | None = None) -> int:
    """Kill every relay whose label starts with label_prefix (but those whose label `keep` says
    to keep); return how many."""
    killed = 0
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "chaos.faults.relay" not in cmdline or "--label" not in cmdline:
            continue
        label = cmdline[cmdline.index("--label") + 1] if cmdline.index("--label") + 1 < len(cmdline) else ""
        if label.startswith(label_prefix) and not (keep is not None and keep(label)):
            try:
                proc.kill()
                proc.wait(timeout=5)
                killed += 1
            except psutil.Error:
                continue
    return killed


if __name__ == "__main__":
    sys.exit(main())
