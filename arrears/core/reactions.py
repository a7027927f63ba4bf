"""A change that a lower layer announces and a higher layer reacts to, inside the same transaction.

Imports run downwards only (docs/architecture.md), so a domain cannot call the domain above it that must follow
its changes: payments cannot re-derive the subscriptions an expired payment blocks (R44), tenants cannot give a new
reseller its default account class. The lower domain declares the change as a ``Reactions`` (a function whose
signature the reactions take) and calls it where the change happens, inside its service's transaction; the
higher domain registers its service from its ``AppConfig.ready()``. So the reaction is part of the change: it runs
before the transaction commits, and an error it raises rolls the change back like any error of the caller's.
Unlike Django's signals, the reactions are typed by the declaration and take no ``sender``.
"""

from collections.abc import Callable
from typing import Generic, ParamSpec

P = ParamSpec("P")


class Reactions(Generic[P]):
    """A change and the functions that react to it, run in the order they registered. Declared as a decorator over
    a function without a body, whose name says what changed and whose docstring says when it is called."""

    def __init__(self, change: Callable[P, None]) -> None:
        self.__doc__ = change.__doc__
        self._reactions: list[Callable[P, object]] = []

    def register(self, reaction: Callable[P, object]) -> None:
        # Once only, even if an app's ready() runs again (as Django allows): a reaction runs once per change.
        if reaction not in self._reactions:
            self._reactions.append(reaction)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> None:
        for reaction in self._reactions:
            reaction(*args, **kwargs)
