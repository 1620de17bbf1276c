"""Questions about string columns answered once per distinct value, not once per row.

Operation names and error classes take a handful of values over millions of rows; they are
loaded as categoricals (`reports.load`), so a test on the categories and a lookup by code
replaces millions of string comparisons.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd


def codes_and_values(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Each row's code (-1 when missing) and the distinct values the codes index."""
    if not isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype("category")
    return column.cat.codes.to_numpy(), [str(c) for c in column.cat.categories]


def matches(column: pd.Series, keep: Callable[[str], bool]) -> np.ndarray:
    """Which rows hold a value `keep` accepts; missing values never match."""
    codes, values = codes_and_values(column)
    accepted = np.array([keep(v) for v in values] + [False], dtype=bool)
    return accepted[codes]  # code -1 picks the trailing False


class Vocabulary:
    """Stable codes for a string column's values across row batches, whose categories differ."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._code: dict[str, int] = {}

    def codes(self, column: pd.Series) -> np.ndarray:
        """Each row's code in this vocabulary (-1 when missing); new values get the next codes."""
        local, values = codes_and_values(column)
        mapping = np.array([self.code(v) for v in values] + [-1], dtype=np.int64)
        return mapping[local]  # code -1 picks the trailing -1

    def code(self, value: str) -> int:
        code = self._code.get(value)
        if code is None:
            code = self._code[value] = len(self.values)
            self.values.append(value)
        return code
