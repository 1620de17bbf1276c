"""Runbooks: the operator's side of a drill. A scenario's `runbook:` lists actions an SRE takes
(force a reconfig onto the survivors, re-add members, take a backup, wipe, restore, ...), each
after an operator delay; the player (player.py) runs them in order next to the fault timeline
and records each in `runbook.jsonl` with its status, duration and what it found. Actions are
a registry like fault kinds (actions/__init__.py); steps are not healed, and a failed step
fails the run (exit 3) naming it."""
