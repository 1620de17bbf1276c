"""The Jinja2 environment every HTML page is rendered with: templates shipped as package data,
autoescaping on for everything (so every string from a run is HTML-escaped), undefined names
an error, and the value formats of `reports.formatting` as filters."""

from __future__ import annotations

import functools

from jinja2 import Environment, PackageLoader, StrictUndefined

from reports import formatting, palette


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        value=formatting.value,
        measured=formatting.measured,
        signed=formatting.signed,
        offset=formatting.offset,
        seconds=formatting.seconds,
        clock=formatting.clock,
        date=formatting.date,
        count=formatting.count,
        percent=formatting.percent,
        finding=formatting.finding,
    )
    env.globals["palette"] = palette
    return env
