"""Shared plumbing of the operator commands: JSON output and errors that name the field."""

import json
from datetime import date, datetime

from django.core.management.base import BaseCommand, CommandError

from arrears.core import clock
from arrears.core.actors import Actor
from arrears.core.errors import ArrearsError

CLI_ACTOR = Actor.system("operator CLI")


def _default(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"cannot serialize {type(value).__name__}")


class JsonCommand(BaseCommand):
    """A command that performs one service call and prints the object as JSON."""

    def print_json(self, data) -> None:
        self.stdout.write(json.dumps(data, indent=2, default=_default, ensure_ascii=False))

    def now(self) -> datetime:
        return clock.wall_clock()

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except ArrearsError as exc:
            field = f" (field {exc.pointer.lstrip('/')})" if exc.pointer else ""
            raise CommandError(f"{exc.code}: {exc.detail}{field}") from exc


def lookup(model_or_queryset, pk, label: str):
    """The object with ``pk`` among those given (a model or a queryset already scoped to the caller)."""
    queryset = getattr(model_or_queryset, "objects", model_or_queryset)
    try:
        return queryset.get(pk=pk)
    except queryset.model.DoesNotExist as exc:
        raise CommandError(f"{label} {pk} does not exist") from exc


def parse_date_option(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{option}: {value!r} is not YYYY-MM-DD") from exc


def parse_on_off(value: str) -> bool:
    if value not in ("on", "off"):
        raise CommandError(f"expected on or off, got {value!r}")
    return value == "on"
