"""SLO profiles as data: YAML files of targets, found by name or by path, each may extend another.

    # orders-slo.yaml
    name: orders-production
    description: the orders service's targets
    extends: ai-hub-production           # a profile name, or a path relative to this file
    latency_ms: {"*": {avg_ms: 150}}     # merged field by field into what it extends
    checks:                              # targets of registered checks (reports.checks)
      orders_checks:late_orders: {max: 0}

A name is found among the shipped files (`reports/slo_profiles/<name>.yaml`) and the entry
points of the group `hubchaos.profiles`, whose object is the path of a profile file. Anything
that ends in `.yaml`/`.yml` or contains a `/` is a path. `load_profile` returns the merged,
unvalidated data; `reports.slo` validates it as `SLOTargets`.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from contract import safeyaml
from contract.errors import ScenarioError

PROFILE_DIR = Path(__file__).with_name("slo_profiles")
GROUP = "hubchaos.profiles"
# What a profile file holds besides targets.
META = ("name", "description", "extends")


@dataclass(frozen=True, slots=True)
class ProfileListing:
    name: str
    source: str  # built in, entry point, file
    path: Path


def is_path(ref: str) -> bool:
    return ref.endswith((".yaml", ".yml")) or "/" in ref


def listings() -> list[ProfileListing]:
    """Every profile known by name."""
    found = {p.stem: ProfileListing(p.stem, "built in", p) for p in sorted(PROFILE_DIR.glob("*.yaml"))}
    for ep in entry_points(group=GROUP):
        try:
            path = Path(str(ep.load()))
        except (ImportError, AttributeError) as exc:
            raise ValueError(
                f"SLO profile entry point {ep.name} ({ep.value}): cannot be loaded ({exc})"
            ) from None
        found[ep.name] = ProfileListing(ep.name, f"entry point ({GROUP})", path)
    return sorted(found.values(), key=lambda listing: listing.name)


def find_profile(ref: str, base: Path | None = None) -> Path:
    """The file of a profile name or path (a relative path from `base`, default the cwd)."""
    if is_path(ref):
        path = Path(ref).expanduser()
        return path if path.is_absolute() or base is None else base / path
    known = {listing.name: listing.path for listing in listings()}
    if ref not in known:
        raise ValueError(f"unknown SLO profile {ref!r} (known: {', '.join(sorted(known))})")
    return known[ref]


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` on top of `base`, nested mappings merged key by key."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def read_profile(path: Path) -> dict[str, Any]:
    """One profile file's own data, as written; ValueError naming the file when unusable."""
    try:
        data = safeyaml.load(path.read_text(), f"SLO profile {path}")
    except FileNotFoundError:
        raise ValueError(f"SLO profile {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"SLO profile {path}: cannot be read ({exc})") from None
    except ScenarioError as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(data, dict):
        raise ValueError(f"SLO profile {path}: expected a mapping of targets")
    return data


def load_profile(ref: str, base: Path | None = None, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A profile's targets with what it extends merged in (plain data, with `profile` and
    `description`); ValueError naming the file for a missing file, bad YAML or a cycle."""
    path = find_profile(ref, base).resolve()
    if path in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, path))
        raise ValueError(f"SLO profile {path}: extends itself ({chain})")
    data = read_profile(path)
    parent = data.pop("extends", None)
    name = str(data.pop("name", path.stem))
    description = str(data.pop("description", ""))
    inherited: dict[str, Any] = {}
    if parent is not None:
        inherited = load_profile(str(parent), path.parent, (*_seen, path))
    merged = merge(inherited, data)
    merged.update(profile=name, description=description)
    return merged
