"""Command handlers, one module per area; importing this package registers them all."""

from mongoemu.commands import (  # noqa: F401
    admin,
    apply_ops,
    catalog,
    crud,
    dbhash,
    explain,
    hello,
    indexes,
    query,
    replset,
    sessions,
    transactions,
    validate,
)
