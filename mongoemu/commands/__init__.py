"""Command handlers, one module per area; importing this package registers them all."""

from mongoemu.commands import admin, replset  # noqa: F401
