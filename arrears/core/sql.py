"""The few SQL spellings that differ between SQLite and PostgreSQL, for the set-based engine."""

from datetime import date, datetime

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models import signals
from django.db.models.base import ModelState


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


_TABLES: dict[type, str] = {}


def table(model) -> str:
    """The model's quoted table name, kept per model: the hot paths name several tables per request. Both
    databases quote names alike, so the name does not depend on the connection."""
    name = _TABLES.get(model)
    if name is None:
        name = _TABLES[model] = connection.ops.quote_name(model._meta.db_table)
    return name


def joined_text(expression: str) -> str:
    """SQL aggregating the text ``expression`` of a group's rows into one comma-separated string, in no
    particular order (SQLite before 3.44 cannot order inside an aggregate)."""
    if is_postgres():
        return f"string_agg({expression}, ',')"
    return f"group_concat({expression}, ',')"


def add_days(date_sql: str, days_sql: str) -> str:
    """SQL for ``date + days`` where both sides are SQL expressions."""
    if is_postgres():
        return f"(CAST({date_sql} AS date) + CAST({days_sql} AS integer))"
    # SQLite's modifier "N days" takes a signed number; no printf, whose "%" Django's debug logging would
    # read as a parameter placeholder.
    return f"date({date_sql}, CAST({days_sql} AS TEXT) || ' days')"


DOCUMENT_NUMBER_WIDTH = 8


def number_text(prefix_sql: str, number_sql: str) -> str:
    """SQL for a document number: the prefix and the sequence number zero-padded to eight digits.

    Mirrors ``tenants.services.document_number``; numbers past eight digits are written in full
    (LPAD alone would cut them).
    """
    text = f"CAST({number_sql} AS TEXT)"
    width = DOCUMENT_NUMBER_WIDTH
    return (
        f"(CAST({prefix_sql} AS TEXT) || CASE WHEN LENGTH({text}) >= {width} THEN {text} "
        f"ELSE LPAD({text}, {width}, '0') END)"
    )


def db_datetime(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def db_date(value: date):
    return connection.ops.adapt_datefield_value(value)


def fetch_all(sql: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def execute(sql: str, params=()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def execute_many(sql: str, rows: list) -> None:
    if rows:
        with connection.cursor() as cursor:
            cursor.executemany(sql, rows)


class RowLoader:
    """Model instances from the columns of a hand-written SELECT, converted exactly as the ORM converts them.

    For the few hot paths (every API request authenticates; GET invoice) where compiling an ORM query costs
    more than running it. ``columns(alias)`` is the select list; ``load(row, start)`` builds the instance from
    ``row[start:]`` and returns it (None when its primary key is NULL, as after a LEFT JOIN) with the next
    start.
    """

    def __init__(self, model):
        self.model = model
        self.fields = model._meta.concrete_fields
        self.attnames = [field.attname for field in self.fields]
        self._converters = None
        self._plain: bool | None = None
        self._select_lists: dict[str, str] = {}

    def columns(self, alias: str) -> str:
        if alias not in self._select_lists:
            quote = connection.ops.quote_name
            self._select_lists[alias] = ", ".join(f"{alias}.{quote(field.column)}" for field in self.fields)
        return self._select_lists[alias]

    def _converters_of_fields(self) -> list[tuple[int, object, list]]:
        """(index, column, converters) of the fields that have converters at all: most have none."""
        if self._converters is None:
            self._converters = []
            for index, field in enumerate(self.fields):
                column = field.get_col(self.model._meta.db_table)
                converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
                if converters:
                    self._converters.append((index, column, converters))
        return self._converters

    def load(self, row, start: int = 0):
        end = start + len(self.fields)
        if row[start] is None:
            return None, end
        values = list(row[start:end])
        db = connections[DEFAULT_DB_ALIAS]  # once, rather than through the proxy at every converter
        for index, column, converters in self._converters_of_fields():
            for converter in converters:
                values[index] = converter(values[index], column, db)
        if self._plain is None:
            self._plain = not (
                signals.pre_init.has_listeners(self.model) or signals.post_init.has_listeners(self.model)
            )
        if not self._plain:
            return self.model.from_db(db.alias, self.attnames, values), end
        # What Model.from_db builds, without __init__'s walk over the fields: with no pre_init/post_init
        # listener, an instance loaded from a row is its field values and a ModelState.
        instance = self.model.__new__(self.model)
        instance.__dict__.update(zip(self.attnames, values, strict=True))
        state = instance._state = ModelState()
        state.adding, state.db = False, db.alias
        return instance, end


_UPDATES: dict[tuple, tuple[str, list]] = {}


def _update_statement(model, set_names: tuple, where_names: tuple, null_names: frozenset) -> tuple[str, list]:
    """The UPDATE text and the fields of its parameters (SET first, then WHERE), kept per shape: building them
    costs more than the values' preparation."""
    key = (model, set_names, where_names, null_names)
    statement = _UPDATES.get(key)
    if statement is None:
        quote = connection.ops.quote_name
        fields = {name: model._meta.get_field(name) for name in (*set_names, *where_names)}
        assignments = ", ".join(f"{quote(fields[name].column)} = %s" for name in set_names)
        conditions = " AND ".join(
            f"{quote(fields[name].column)} IS NULL" if name in null_names else f"{quote(fields[name].column)} = %s"
            for name in where_names
        )
        parameter_fields = [fields[name] for name in set_names]
        parameter_fields += [fields[name] for name in where_names if name not in null_names]
        statement = _UPDATES[key] = (f"UPDATE {table(model)} SET {assignments} WHERE {conditions}", parameter_fields)
    return statement


def conditional_update(model, *, where: dict, values: dict) -> int:
    """``UPDATE … SET values WHERE where`` in hand-written SQL, values prepared by their fields exactly as the
    ORM prepares them; returns the row count. The status changes of the hottest services use it: compiling the
    ORM's UPDATE costs more than running it. ``None`` in ``where`` means IS NULL."""
    null_names = frozenset(name for name, value in where.items() if value is None)
    text, fields = _update_statement(model, tuple(values), tuple(where), null_names)
    given = [*values.values(), *(value for value in where.values() if value is not None)]
    params = [
        field.get_db_prep_value(
            value.pk if isinstance(value, models.Model) else value, connection, prepared=False
        )  # a related object stands for its key
        for field, value in zip(fields, given, strict=True)
    ]
    return execute(text, params)


def in_accounts(alias: str = "") -> str:
    """SQL for "a row of the reseller's accounts ``lo < id <= hi``" (a billing chunk's), with the parameters
    ``[reseller id, lo, hi]``, that is found through the row's account index.

    The unary plus keeps the reseller-led indexes (a reseller's every open invoice, every blocked charge) out of
    the plan: without statistics SQLite prefers their equality to the account range and would walk the whole
    reseller once per chunk, which grows with the square of the accounts."""
    column = f"{alias}." if alias else ""
    return f"+{column}reseller_id = %s AND {column}account_id > %s AND {column}account_id <= %s"
