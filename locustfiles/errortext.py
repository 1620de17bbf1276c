"""One line for an error, as a person reads it (messages, the run's error, the timeline).

Plain PyMongo, nothing of the run-directory format, so that `hubchaos validate` can import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo.errors import BulkWriteError, OperationFailure, PyMongoError


def _reply_error(doc: Mapping[str, Any]) -> str:
    name = doc.get("codeName")
    code = doc.get("code")
    what = f"{name}, {code}" if name and code is not None else str(name or code or "")
    return f"{doc.get('errmsg', 'error')} ({what})" if what else str(doc.get("errmsg", "error"))


def describe(exc: BaseException) -> str:
    """One line for an error, as a person reads it: a server error's message, code name and
    code. Never the server's whole reply (with its `$clusterTime` signature bytes), PyMongo's
    topology description, nor a bulk write's list of every document."""
    if isinstance(exc, BulkWriteError):
        details = exc.details or {}
        write_errors = details.get("writeErrors") or []
        concern = details.get("writeConcernErrors") or []
        parts = []
        if write_errors:
            more = f" (and {len(write_errors) - 1} more)" if len(write_errors) > 1 else ""
            parts.append(f"write error: {_reply_error(write_errors[0])}{more}")
        if concern:
            parts.append(f"write concern error: {_reply_error(concern[0])}")
        inserted = details.get("nInserted")
        done = f"; {inserted} inserted" if inserted else ""
        return f"bulk write failed: {'; '.join(parts) or 'no details'}{done}"
    if isinstance(exc, OperationFailure):
        details = exc.details or {}
        concern = details.get("writeConcernError")
        if concern and not details.get("errmsg"):
            return f"write concern error: {_reply_error(concern)}"
        return _reply_error({"errmsg": details.get("errmsg") or _first_clause(str(exc)), **details})
    if isinstance(exc, PyMongoError):
        return f"{type(exc).__name__}: {_first_clause(str(exc))}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _first_clause(text: str) -> str:
    """PyMongo appends the server reply (`, full error: {...}`) and the topology description
    (`, Timeout: ..., Topology Description: ...`) to its messages: the first clause says what."""
    for marker in (", full error:", ", Timeout:", ", Topology Description:"):
        text = text.split(marker, maxsplit=1)[0]
    return text.strip()
