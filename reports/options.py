"""What a run asks its renderers for: the scenario's `outputs:` section as reports reads it.

Kept apart from the renderers so that the scenario model (which extends it with where run
directories go) can import it without pandas and matplotlib.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RenderOptions(BaseModel):
    """The renderers a run asks for (its scenario's `outputs:` section; other keys belong to the
    runner)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    html: bool = True
    junit: bool = True
    markdown: bool = True
