"""One name per member: probes and drivers name members by host:port, faults and run.json by name."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from contract.rundir import MemberInfo


class MemberNames:
    def __init__(self, members: Iterable[MemberInfo]) -> None:
        self.members = list(members)
        self._aliases: dict[str, str] = {}
        for m in self.members:
            self._aliases[m.name] = m.name
            self._aliases[m.host] = m.name

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.members]

    def canonical(self, name: str | None) -> str | None:
        """The run.json name for a name or host:port; an unknown string is kept as it is."""
        if name is None:
            return None
        return self._aliases.get(name, name)

    def canonical_series(self, values: pd.Series) -> pd.Series:
        """`canonical` over a column of names (missing values stay missing)."""
        return values.map(self._aliases).fillna(values)
