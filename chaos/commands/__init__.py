"""The `hubchaos` subcommands, one module each; chaos/cli.py puts them together."""
