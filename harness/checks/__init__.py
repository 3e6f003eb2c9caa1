"""The check catalogue: one module per target system; ``CATALOGUE`` is every check in report order.

Loaded lazily (cold start, issue 13): importing this package imports no check module. Each entry knows its id, tier
and profiles from its ``harness.spec.CheckSpec`` (what selection reads first) and imports its module the first time
anything else is read (``fn``, ``requires``, ``depends_on``...), so a run loads only the modules of the checks it
selects: a probe run never imports the journeys or the queue platform's checks.

To add a check: describe it in ``harness/check_specs.toml`` (its ``module`` names the file here) and write its function,
named like its id, with ``@check("system.thing")`` in that module (README "Adding a check").
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING, Any, cast

from harness.core.model import Profile, Tier
from harness.spec import SPECS, CheckSpec
from harness.spec import by_id as by_spec_id

if TYPE_CHECKING:
    from harness.core.check import Check

_IMPORT_LOCK = threading.Lock()


class LazyCheck:
    """A catalogue entry: ``id``, ``tier`` and ``profiles`` at once, every other ``Check`` field on first read."""

    __slots__ = ("_check", "_where", "id", "profiles", "tier")

    def __init__(self, spec: CheckSpec, package: str = __name__) -> None:
        self.id = spec.id
        self.tier = Tier(spec.tier)
        self.profiles = tuple(Profile(p) for p in spec.profiles)
        self._where = (f"{package}.{spec.module}", spec.attribute)
        self._check: Check | None = None

    def load(self) -> Check:
        """The declared ``Check`` (importing its module once; thread-safe, runs start checks concurrently)."""
        if self._check is None:
            with _IMPORT_LOCK:
                if self._check is None:
                    module, attribute = self._where
                    self._check = cast("Check", getattr(importlib.import_module(module), attribute))
        return self._check

    def __getattr__(self, name: str) -> Any:
        return getattr(self.load(), name)

    def __repr__(self) -> str:
        state = "loaded" if self._check is not None else "not loaded"
        return f"LazyCheck({self.id!r}, {self.tier.value}, {state})"


def catalogue_of(specs: tuple[CheckSpec, ...], package: str = __name__) -> tuple[Check, ...]:
    """Lazy entries for ``specs`` whose functions live in ``package``'s modules, in the specs' order.

    Typed as checks: every field of ``Check`` reads through (``LazyCheck.load`` gives the declaration itself).
    """
    return cast("tuple[Check, ...]", tuple(LazyCheck(spec, package) for spec in by_spec_id(specs).values()))


CATALOGUE: tuple[Check, ...] = catalogue_of(SPECS)


def by_id() -> dict[str, Check]:
    return {c.id: c for c in CATALOGUE}
