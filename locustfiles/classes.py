"""Which Locust user classes a workload runs: the hub's by default, or those its settings name.

    workload:
      locustfile: orders/locustfile.py          # every User class of the file (Locust's loader)
      user_classes:                             # and classes by reference, with their settings
        - {class: orders.users:Shopper, weight: 5, settings: {basket_max: 4}}
        - {class: locustfiles.users:CanaryUser}  # the canary that the RTO is measured with

Importing this module imports Locust (and so gevent's monkey patching): the drill and the
locustfiles do, `hubchaos validate` does not.
"""

from __future__ import annotations

from pathlib import Path

from locust import User
from locust.util.load_locustfile import is_user_class, load_locustfile
from pydantic import ValidationError

from contract.errors import UsageError, describe_validation_error
from contract.registry import load_reference
from locustfiles.settings import WorkloadSettings
from locustfiles.users import CanaryUser, HubUser, IngestUser, WorkloadUser

HUB_CLASSES: list[type[User]] = [HubUser, CanaryUser, IngestUser]


class UserClassError(ValueError):
    """A named class that cannot be used; `where` is its path under `workload:`."""

    def __init__(self, where: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.where = where


def resolve_user_classes(settings: WorkloadSettings) -> list[type[User]]:
    """The classes to run, each with its own settings checked; UserClassError naming the entry."""
    found: dict[str, type[User]] = {}
    if settings.locustfile is not None:
        found.update(_from_locustfile(settings.locustfile))
    for i, spec in enumerate(settings.user_classes):
        where: tuple[str | int, ...] = ("user_classes", i, "class")
        if ":" in spec.class_:
            try:
                cls = load_reference(spec.class_, "user class")
            except UsageError as exc:
                raise UserClassError(where, str(exc)) from None
            if not is_user_class(cls):
                raise UserClassError(where, f"{spec.class_} is not a non-abstract Locust User class")
            found[spec.class_] = cls  # type: ignore[assignment]
        elif not any(c.__name__ == spec.class_ for c in found.values()):
            raise UserClassError(where, f"no class {spec.class_} in the locustfile (or write module:Class)")
    classes = list(dict.fromkeys(found.values())) or list(HUB_CLASSES)
    for i, spec in enumerate(settings.user_classes):
        cls = next((c for c in classes if spec.names(c)), None)
        if cls is None or not issubclass(cls, WorkloadUser):
            continue
        try:
            cls.options(settings)
        except ValidationError as exc:
            raise UserClassError(("user_classes", i, "settings"), describe_validation_error(exc)) from None
        except ValueError as exc:
            raise UserClassError(("user_classes", i, "settings"), str(exc)) from None
    return classes


def _from_locustfile(path: Path) -> dict[str, type[User]]:
    try:
        classes, _shapes = load_locustfile(str(path))
    except Exception as exc:  # the user's code: any error is theirs to see, in one line
        raise UserClassError(
            ("locustfile",), f"{path} cannot be loaded ({type(exc).__name__}: {exc})"
        ) from None
    if not classes:
        raise UserClassError(("locustfile",), f"{path} defines no Locust User class")
    return {f"{cls.__module__}:{cls.__qualname__}": cls for cls in classes.values()}
