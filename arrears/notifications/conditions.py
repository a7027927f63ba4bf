"""Handler conditions written in the reference platform's query syntax, translated to the Liquid expression the
engine evaluates (``arrears.core.liquid.check_condition``).

Managers who come from the reference platform paste conditions such as
``payment.days_left = 3 AND invoice.has_attached = true`` or ``account.email include? "@example.com"``.
:func:`to_liquid` is the one place that understands them; the handler services call it before validating, so
the panel, the CLI and the API accept the same conditions.

The translated Liquid form is what is stored (not the original): dispatch evaluates stored conditions on every
event and has one evaluator only, the stored text is exactly what runs, and the panel shows the manager how
their query was understood right after saving. Translating again is harmless: a Liquid condition passes
through unchanged.

Which syntax a condition is in: it is the reference's when it has one of the reference's own marks — a single
``=``, ``AND``/``OR`` in capitals, ``include?``, or ``NULL``/``TRUE``/``FALSE`` in capitals (any word spelled
otherwise than Liquid spells it). Anything else is
Liquid and is returned exactly as written (``payment.days_left == 3 and invoice.approved`` is unchanged, and
so is its meaning).

Precedence: in the reference syntax, as in SQL, ``AND`` binds tighter than ``OR`` and parentheses group. Liquid
has no precedence between ``and`` and ``or`` (it groups from the right), so the translation adds parentheses
wherever Liquid would otherwise group differently: ``a = 1 AND b = 2 OR c = 3`` becomes
``(a == 1 and b == 2) or c == 3``. The condition environment allows parentheses for this.
"""

import re
from dataclasses import dataclass

from arrears.core.liquid import TemplateInvalid

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>==|!=|<>|<=|>=|=|<|>)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<number>-?\d+(?:\.\d+)?(?![\w.]))
  | (?P<word>[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*|\[\d+\])*\??)
  | (?P<other>.)
""",
    re.VERBOSE,
)

_KEYWORDS = {
    "and": "and",
    "or": "or",
    "include?": "contains",
    "includes?": "contains",
    "contains": "contains",
    "true": "true",
    "false": "false",
    "null": "nil",
    "nil": "nil",
    "empty": "empty",
    "blank": "blank",
}
_OPERATORS = {"=": "==", "==": "==", "!=": "!=", "<>": "!=", "<": "<", ">": ">", "<=": "<=", ">=": ">="}


def _invalid(message: str) -> TemplateInvalid:
    return TemplateInvalid(f"line 1: {message}", line=1, pointer="/condition")


@dataclass(frozen=True)
class _Token:
    kind: str  # value, op, contains, and, or, lparen, rparen
    text: str  # the Liquid spelling
    source: str  # as written


def _tokens(condition: str, *, strict: bool = True) -> list[_Token]:
    """The condition's tokens; ``strict=False`` keeps what cannot be read as "other" instead of refusing it."""
    tokens = []
    for match in _TOKEN.finditer(condition):
        kind, text = match.lastgroup, match.group()
        if kind == "space":
            continue
        if kind == "other" or (kind == "word" and text.endswith("?") and text.lower() not in _KEYWORDS):
            if not strict:
                tokens.append(_Token("other", "", text))
                continue
        if kind == "other":
            raise _invalid(f"unexpected character {text!r} in the condition")
        if kind == "op":
            tokens.append(_Token("op", _OPERATORS[text], text))
        elif kind == "word" and text.lower() in _KEYWORDS:
            liquid = _KEYWORDS[text.lower()]
            token_kind = liquid if liquid in ("and", "or", "contains") else "value"
            tokens.append(_Token(token_kind, liquid, text))
        elif kind == "word" and text.endswith("?"):
            raise _invalid(f"unknown operator '{text}'")
        elif kind in ("lparen", "rparen"):
            tokens.append(_Token(kind, text, text))
        else:
            tokens.append(_Token("value", text, text))
    return tokens


def is_reference_syntax(condition: str) -> bool:
    """Whether ``condition`` carries a mark only the reference's query syntax has (see the module docstring)."""
    tokens = _tokens(condition, strict=False)
    # ``<>`` and ``null`` are Liquid too; every other spelling that differs from Liquid's is the reference's, and
    # so is a word ending in "?" (a Ruby predicate). A bare unreadable character decides nothing.
    return any(
        token.source != token.text
        and token.source not in ("<>", "null")
        and (token.kind != "other" or token.source.endswith("?"))
        for token in tokens
    )


# The tree: a comparison is a string; a group is (operator, [operands]) with operator "and" or "or".
class _Parser:
    def __init__(self, tokens: list[_Token]):
        self.tokens = tokens
        self.position = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise _invalid("the condition ends too early")
        self.position += 1
        return token

    def parse(self):
        tree = self.disjunction()
        extra = self.peek()
        if extra is not None:
            raise _invalid(f"unexpected '{extra.source}'")
        return tree

    def disjunction(self):
        operands = [self.conjunction()]
        while (token := self.peek()) is not None and token.kind == "or":
            self.take()
            operands.append(self.conjunction())
        return operands[0] if len(operands) == 1 else ("or", operands)

    def conjunction(self):
        operands = [self.primary()]
        while (token := self.peek()) is not None and token.kind == "and":
            self.take()
            operands.append(self.primary())
        return operands[0] if len(operands) == 1 else ("and", operands)

    def primary(self):
        token = self.take()
        if token.kind == "lparen":
            tree = self.disjunction()
            closing = self.peek()
            if closing is None or closing.kind != "rparen":
                raise _invalid("a '(' is not closed")
            self.take()
            return tree
        if token.kind != "value":
            raise _invalid(f"expected a placeholder or a value, found '{token.source}'")
        following = self.peek()
        if following is None or following.kind not in ("op", "contains"):
            return token.text
        operator = self.take()
        right = self.take()
        if right.kind != "value":
            raise _invalid(f"expected a value after '{operator.source}', found '{right.source}'")
        return f"{token.text} {operator.text} {right.text}"


def _liquid(tree) -> str:
    """Liquid groups ``x op y op z`` as ``x op (y op z)``: every compound operand but the last one needs its
    parentheses, and so does a compound that is itself an operand."""
    if isinstance(tree, str):
        return tree
    operator, operands = tree
    last = len(operands) - 1
    return f" {operator} ".join(
        _liquid(operand) if isinstance(operand, str) or index == last else f"({_liquid(operand)})"
        for index, operand in enumerate(operands)
    )


def to_liquid(condition: str) -> str:
    """The Liquid form of a handler condition: a reference query translated, a Liquid expression unchanged.

    Raises ``TemplateInvalid`` (TEMPLATE-0001, pointer ``/condition``) for a reference query that cannot be
    read; placeholders are checked afterwards, on the Liquid form, by the handler services."""
    if not isinstance(condition, str) or not is_reference_syntax(condition):
        return condition
    tokens = _tokens(condition)
    if not tokens:
        return ""
    return _liquid(_Parser(tokens).parse())
