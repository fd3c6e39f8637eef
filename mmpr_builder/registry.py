"""``Registry[T]``: parts found by name, with one "did you mean" for unknown names.

As in lm-evaluation-harness, a part (a recipe, an answer type, a source reader,
a model alias, a loss term) is registered under a name and looked up by it; an
unknown name fails with the closest known name and the full list::

    LOSSES: Registry[Callable] = Registry("loss type", error=ConfigError)
    LOSSES.register("sigmoid", sigmoid_loss)
    LOSSES.get("sigmod")
    # ConfigError: unknown loss type 'sigmod' (did you mean 'sigmoid'?); known loss types: sigmoid

:func:`did_you_mean` is the same suggestion for checks that have no registry
(unknown config keys, choice fields).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Generic, TypeVar

from mmpr_builder.errors import ConfigError, MmprError

T = TypeVar("T")

#: difflib's default similarity cutoff; a lower one suggests more loosely.
DEFAULT_CUTOFF = 0.6


def closest(name: object, known: Iterable[str], *, cutoff: float = DEFAULT_CUTOFF) -> str | None:
    """The known name most similar to ``name`` (difflib ratio >= ``cutoff``), or None."""
    close = difflib.get_close_matches(str(name), list(known), n=1, cutoff=cutoff)
    return close[0] if close else None


def did_you_mean(name: object, known: Iterable[str], *, cutoff: float = DEFAULT_CUTOFF) -> str:
    """``" (did you mean 'x'?)"`` for the :func:`closest` known name, or ``""`` when none is close."""
    match = closest(name, known, cutoff=cutoff)
    return f" (did you mean {match!r}?)" if match is not None else ""


class Registry(Generic[T]):
    """Named values of one kind, in registration order.

    Args:
        kind: what the names name, for messages (``"recipe"``, ``"answer_type"``).
        entries: initial ``name -> value`` mapping or ``(name, value)`` pairs.
        error: the :class:`~mmpr_builder.errors.MmprError` subclass raised for an
            unknown or duplicate name (``ConfigError`` by default; ``ModelError``
            for models).
        cutoff: similarity cutoff of the "did you mean" (see :func:`closest`).
    """

    def __init__(self, kind: str, entries: Mapping[str, T] | Iterable[tuple[str, T]] = (), *,
                 error: type[MmprError] = ConfigError, cutoff: float = DEFAULT_CUTOFF):
        self.kind = kind
        self.error = error
        self.cutoff = cutoff
        self._entries: dict[str, T] = {}
        for name, value in (entries.items() if isinstance(entries, Mapping) else entries):
            self.register(name, value)

    def register(self, name: str, value: T) -> T:
        """Add ``value`` under ``name`` and return it.

        Raises:
            the registry's error class: ``name`` is already registered (a clash is
            an error, never a silent override).
        """
        if name in self._entries:
            raise self.error(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = value
        return value

    def add(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`register`: ``@REG.add("name")`` over a function or class."""
        return lambda value: self.register(name, value)

    def get(self, name: str) -> T:
        """The value registered under ``name``.

        Raises:
            the registry's error class: unknown name (message from :meth:`unknown`).
        """
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise self.unknown(name) from None

    def check(self, name: str) -> str:
        """Return ``name`` if it is registered; raise :meth:`unknown`'s error otherwise."""
        self.get(name)
        return name

    def unknown(self, name: object, *, others: Iterable[str] = (), also: str = "") -> MmprError:
        """The error for an unknown ``name`` (returned, for the caller to raise).

        The message is ``unknown KIND 'name' (did you mean 'x'?); known KINDs: a, b``.

        Args:
            name: the name that was not found.
            others: further names the caller accepts outside the registry; they
                are suggested and listed like registered ones.
            also: text appended after ``"; "`` (other accepted forms).
        """
        names = [*self._entries, *others]
        extra = f"; {also}" if also else ""
        return self.error(f"unknown {self.kind} {name!r}{did_you_mean(name, names, cutoff=self.cutoff)}; "
                          f"known {self.kind}s: {', '.join(names) or 'none'}{extra}")

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """``(name, value)`` pairs, in registration order."""
        return list(self._entries.items())

    def __contains__(self, name: object) -> bool:
        try:
            return name in self._entries
        except TypeError:  # unhashable: never a name
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
