"""SQL text that must be an expression over the current rows, and nothing more.

Spec `where`/`derive`/lookup keys/check conditions and `lineage --where` go through polars'
SQL parser, which also accepts subqueries and table functions: `noc_code IN (SELECT x FROM
read_csv('/etc/passwd'))` read a file and echoed its first line in an error. An expression
never needs a query, a table or a file, so any of them is refused before polars sees the text.
String literals and quoted identifiers are set aside first, so a value such as 'select' or a
column named "from" stays allowed.
"""

from __future__ import annotations

import re

from jobforge_core.common.errors import JobForgeError

_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
_QUERY_WORDS = re.compile(
    r"\b(select|from|with|union|intersect|except|values|table|join|into|copy|attach|pragma)\b",
    re.IGNORECASE,
)
_TABLE_FUNCTIONS = re.compile(r"\b(read_\w+|scan_\w+|glob|load\w*)\s*\(", re.IGNORECASE)


class NotAnExpression(JobForgeError):
    """SQL text that would run a query or read a file where an expression is expected."""


def check_expression(text: str, what: str) -> str:
    """`text` unchanged when it is an expression only; else NotAnExpression naming `what`."""
    bare = _QUOTED.sub("''", text)
    found = _QUERY_WORDS.search(bare) or _TABLE_FUNCTIONS.search(bare)
    if found or ";" in bare:
        word = found.group(0).strip("( ") if found else ";"
        raise NotAnExpression(
            f"{what}: {text!r} is not an expression over the rows ({word!r} is not allowed: "
            "no subquery, table, file or statement)"
        )
    return text
