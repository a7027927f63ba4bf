"""Templates and conditions that users write, in Liquid (python-liquid), as on the reference platform.

A template is checked when it is saved: a syntax error, an unknown filter or a placeholder outside the
documented set is refused with its line number and its name. Rendering is strict: a placeholder that turns out
to be missing at render time is an error, never an empty string in a customer's e-mail.

A placeholder set is a nested dict: ``{"invoice": {"total": None, "file": {"name": None}}}``; a ``None`` leaf
is a value, a dict is an object whose fields are listed, and ``ANY_FIELDS`` marks an object whose fields are
not listed (a list of charges, custom attributes).
"""

from dataclasses import dataclass

from liquid import Environment, StrictUndefined
from liquid.exceptions import LiquidError, LiquidSyntaxError

from arrears.core.errors import ValidationFailed

ANY_FIELDS = "*"

_ENVIRONMENT = Environment(undefined=StrictUndefined, autoescape=False)
_HTML_ENVIRONMENT = Environment(undefined=StrictUndefined, autoescape=True)


class _ConditionEnvironment(Environment):
    """Conditions may group with parentheses (``(a and b) or c``): Liquid has no precedence between ``and`` and
    ``or``, and a translated reference query (``arrears.notifications.conditions``) needs grouping to keep its
    meaning. Without parentheses an expression means exactly what it means in the standard environment."""

    logical_parentheses = True


_CONDITION_ENVIRONMENT = _ConditionEnvironment(undefined=StrictUndefined, autoescape=False)


class TemplateInvalid(ValidationFailed):
    """A template or condition that cannot be saved: the detail names the line and the culprit."""

    code = "TEMPLATE-0001"
    title = "Invalid template"

    def __init__(self, detail: str, *, line: int, name: str | None = None, pointer: str | None = None):
        self.line = line
        self.name = name
        super().__init__(detail, pointer=pointer)


class TemplateRenderFailed(Exception):
    """A checked template failed at render time (data missing from the placeholders)."""


@dataclass(frozen=True)
class CheckedTemplate:
    source: str
    html: bool = False
    condition: bool = False

    def render(self, placeholders: dict) -> str:
        environment = _environment(html=self.html, condition=self.condition)
        try:
            return environment.from_string(self.source).render(**placeholders)
        except LiquidError as exc:
            raise TemplateRenderFailed(str(exc)) from exc


def _environment(*, html: bool, condition: bool) -> Environment:
    if condition:
        return _CONDITION_ENVIRONMENT
    return _HTML_ENVIRONMENT if html else _ENVIRONMENT


def _line_of(source: str, index: int) -> int:
    return source.count("\n", 0, max(index, 0)) + 1


def _syntax_error_line(environment: Environment, source: str, error: LiquidSyntaxError) -> int:
    """The line of a syntax error. python-liquid gives no position for errors found at the end of an expression
    or of the template (an unclosed ``{% if %}``); the first prefix of lines that fails the same way names it,
    which for an unclosed block is the line that opens it."""
    token = getattr(error, "token", None)
    if token is not None and token.start_index >= 0 and "end of file" not in str(error.message):
        return _line_of(source, token.start_index)
    lines = source.split("\n")
    for count in range(1, len(lines) + 1):
        try:
            environment.from_string("\n".join(lines[:count]))
        except LiquidSyntaxError as prefix_error:
            if prefix_error.message == error.message:
                return count
        except LiquidError:
            continue
    return len(lines)


def _unknown_segment(segments: list, known: dict) -> str | None:
    """The dotted name of the first segment outside ``known``, or None if the path is documented."""
    node = known
    for depth, segment in enumerate(segments):
        if node == ANY_FIELDS:
            return None
        if not isinstance(segment, str):  # an index (``charges[0]``) or a nested path: not checked further
            return None
        if not isinstance(node, dict) or segment not in node:
            return ".".join(str(part) for part in segments[: depth + 1])
        node = node[segment]
    return None


def check_template(
    source: str, placeholders: dict, *, html: bool = False, pointer: str | None = None, _condition: bool = False
) -> CheckedTemplate:
    """Parse ``source`` and check every placeholder and filter it uses; raise TemplateInvalid naming the line."""
    if not isinstance(source, str):
        raise TemplateInvalid("the template must be text", line=1, pointer=pointer)
    environment = _environment(html=html, condition=_condition)
    try:
        template = environment.from_string(source)
    except LiquidSyntaxError as exc:
        line = _syntax_error_line(environment, source, exc)
        raise TemplateInvalid(f"line {line}: Liquid syntax error: {exc.message}", line=line, pointer=pointer) from exc
    except LiquidError as exc:
        raise TemplateInvalid(f"line 1: {exc}", line=1, pointer=pointer) from exc
    analysis = template.analyze()
    for name, spans in analysis.filters.items():
        if name not in environment.filters:
            line = _line_of(source, spans[0].index)
            raise TemplateInvalid(f"line {line}: unknown filter '{name}'", line=line, name=name, pointer=pointer)
    problems = []
    for variables in analysis.globals.values():
        for variable in variables:
            unknown = _unknown_segment(list(variable.segments), placeholders)
            if unknown is not None:
                problems.append((variable.span.index, unknown))
    if problems:
        index, name = min(problems)
        line = _line_of(source, index)
        raise TemplateInvalid(f"line {line}: unknown placeholder '{name}'", line=line, name=name, pointer=pointer)
    return CheckedTemplate(source, html=html, condition=_condition)


def check_condition(condition: str, placeholders: dict, *, pointer: str | None = None) -> CheckedTemplate:
    """A handler condition is a Liquid expression (``payment.days_left == 3 and invoice.approved``); an empty
    condition always holds."""
    if not isinstance(condition, str):
        raise TemplateInvalid("the condition must be text", line=1, pointer=pointer)
    if "{" in condition or "%}" in condition:
        raise TemplateInvalid(
            "line 1: write the condition as a bare expression, without {% %} or {{ }}", line=1, pointer=pointer
        )
    if not condition.strip():
        return CheckedTemplate("yes")
    return check_template(f"{{% if {condition} %}}yes{{% endif %}}", placeholders, pointer=pointer, _condition=True)


def condition_holds(condition: CheckedTemplate, placeholders: dict) -> bool:
    return condition.render(placeholders) == "yes"
