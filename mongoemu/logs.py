"""mongod-style structured logs: one JSON object per line with t, s, c, id, ctx, msg, attr."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from bson import json_util

_SEVERITY = {
    logging.DEBUG: "D1",
    logging.INFO: "I",
    logging.WARNING: "W",
    logging.ERROR: "E",
    logging.CRITICAL: "F",
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "t": {"$date": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")},
            "s": _SEVERITY.get(record.levelno, "I"),
            "c": record.name.removeprefix("mongoemu.").upper(),
            "ctx": record.threadName if record.threadName != "MainThread" else "main",
            "msg": record.getMessage(),
        }
        attr = getattr(record, "attr", None)
        if attr:
            doc["attr"] = attr
        if record.exc_info:
            doc.setdefault("attr", {})["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=json_util.default)


def configure(logpath: Path | None, quiet: bool) -> None:
    handler: logging.Handler
    if logpath is not None:
        logpath.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(logpath)
    else:
        handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("mongoemu")
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    root.propagate = False
