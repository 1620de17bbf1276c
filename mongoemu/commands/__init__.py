"""Command handlers, one module per area; importing this package registers them all."""

from mongoemu.commands import admin, catalog, crud, dbhash, indexes, query, replset, sessions  # noqa: F401
