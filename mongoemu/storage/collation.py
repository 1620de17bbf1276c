"""Collations: mongod's `collation` documents parsed and validated, and comparison keys for
strings under them.

mongod compares strings with ICU. Without ICU in the emulator, a collation is honoured through
a comparison key per string, written by hand from Unicode data (`unicodedata`):
- strength 1: base letters only (NFD, combining marks removed, case-folded: "Éa" ~ "ea");
- strength 2: then accents (case-folded NFD);
- strength 3: then case (lowercase before uppercase, or `caseFirst: "upper"`);
- `numericOrdering`: digit runs compare by their value.
Equality under these keys is ICU's for Latin-script text; the order between different base
characters is code-point order of the case-folded letters, an approximation of ICU's root
order (punctuation and symbols sort differently in ICU). Locales other than English, strength
4/5, `caseLevel`, `alternate: "shifted"` and `backwards` are refused with BadValue, naming the
emulator's limitation, instead of being accepted and ignored.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mongoemu.errors import CommandError
from mongoemu.storage.keystring import type_name

_DEFAULTS = {
    "caseLevel": False, "caseFirst": "off", "strength": 3, "numericOrdering": False,
    "alternate": "non-ignorable", "maxVariable": "punct", "normalization": False, "backwards": False,
}  # fmt: skip
_TYPES = {
    "locale": str, "caseLevel": bool, "caseFirst": str, "strength": int, "numericOrdering": bool,
    "alternate": str, "maxVariable": str, "normalization": bool, "backwards": bool, "version": str,
}  # fmt: skip
_CHOICES = {"caseFirst": ("upper", "lower", "off"), "alternate": ("non-ignorable", "shifted"),
            "maxVariable": ("punct", "space")}  # fmt: skip
# ICU's version that mongod 6.0 reports in a normalised collation.
ICU_VERSION = "57.1"
_DIGITS = re.compile(r"\d+")


def _unsupported(what: str) -> CommandError:
    return CommandError(2, f"collation {what} is not supported by the emulator (no ICU)")


@dataclass(frozen=True, slots=True)
class Collation:
    locale: str
    strength: int = 3
    case_first: str = "off"
    numeric: bool = False

    def document(self) -> dict[str, Any]:
        """The normalised form mongod shows in listIndexes and listCollections."""
        return {
            "locale": self.locale,
            **_DEFAULTS,
            "strength": self.strength,
            "caseFirst": self.case_first,
            "numericOrdering": self.numeric,
            "version": ICU_VERSION,
        }

    def key(self, s: str) -> str:
        """A string whose code-point order and equality are this collation's for `s`."""
        nfd = unicodedata.normalize("NFD", s)
        folded = nfd.casefold()
        primary = "".join(c for c in unicodedata.normalize("NFD", folded) if not unicodedata.combining(c))
        if self.numeric:
            primary = _DIGITS.sub(_numeric_run, primary)
        if self.strength == 1:
            return primary
        secondary = unicodedata.normalize("NFD", folded)
        if self.strength == 2:
            return f"{primary}\x01{secondary}"
        upper_first = self.case_first == "upper"
        letters = (c for c in nfd if not unicodedata.combining(c))
        case = "".join("1" if c.isupper() != upper_first else "0" for c in letters)
        return f"{primary}\x01{secondary}\x01{case}\x01{nfd}"

    def value(self, value: Any) -> Any:
        """A BSON value with every string (also inside documents and arrays) replaced by its key."""
        if isinstance(value, str):
            return self.key(value)
        if isinstance(value, Mapping):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value


def _numeric_run(m: re.Match[str]) -> str:
    digits = m.group().lstrip("0") or "0"
    return f"{len(digits):04d}{digits}"


def parse(spec: Any) -> Collation | None:
    """A `collation` option as mongod 6.0 validates it; None for the simple (binary) collation."""
    if spec is None:
        return None
    if isinstance(spec, Mapping) and not spec:
        return None  # mongod takes an empty collation document as the simple collation
    if not isinstance(spec, Mapping):
        raise CommandError(14, f"collation must be an object, not {type_name(spec)}")
    for name, value in spec.items():
        expected = _TYPES.get(name)
        if expected is None:
            raise CommandError(40415, f"BSON field 'collation.{name}' is an unknown field.")
        ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
        if expected is int and isinstance(value, float) and value.is_integer():
            ok = True
        if not ok:
            raise CommandError(14, f"BSON field 'collation.{name}' is the wrong type '{type_name(value)}'")
        if name in _CHOICES and value not in _CHOICES[name]:
            raise CommandError(2, f"Field '{name}' must be one of {list(_CHOICES[name])}, got: {value}")
    locale = spec.get("locale")
    if locale is None:
        raise CommandError(40414, "BSON field 'locale' is missing but a required field")
    if locale == "simple":
        if set(spec) - {"locale", "version"}:
            raise CommandError(2, "If locale is 'simple', no other collation options may be set")
        return None
    strength = int(spec.get("strength", 3))
    if not 1 <= strength <= 5:
        raise CommandError(51024, f"BSON field 'strength' value must be in [1, 5], actual value '{strength}'")
    if locale != "en" and not locale.startswith("en_"):
        raise _unsupported(f"locale '{locale}' (only 'en' and its regions, and 'simple')")
    if strength > 3:
        raise _unsupported(f"strength {strength} (only 1, 2 and 3)")
    if spec.get("caseLevel"):
        raise _unsupported("caseLevel: true")
    if spec.get("alternate", "non-ignorable") != "non-ignorable":
        raise _unsupported("alternate: 'shifted'")
    if spec.get("backwards"):
        raise _unsupported("backwards: true")
    return Collation(
        locale=locale,
        strength=strength,
        case_first=spec.get("caseFirst", "off"),
        numeric=bool(spec.get("numericOrdering", False)),
    )


def effective(given: Any, default: Collation | None) -> Collation | None:
    """The collation an operation uses: its own (`{locale: "simple"}` included) or its
    collection's default."""
    return default if given is None else parse(given)
