"""The one exception family the CLI turns into a clear line and an exit code."""


class ForensicsError(Exception):
    """A problem the user can fix: a missing source, a bad parameter, an unknown query.

    ``details`` are lines that help fix it (DuckDB's candidate bindings, its caret under the
    mistake), printed indented under the message.
    """

    def __init__(self, *args, details: list[str] | None = None):
        super().__init__(*args)
        self.details = list(details or [])


def first_line(exc: BaseException) -> str:
    """An exception's message reduced to its first line (DuckDB's and Spark's run to many), or its type."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class SourceError(ForensicsError):
    """A log source that does not exist or matches nothing."""


class CatalogError(ForensicsError):
    """A query file that does not parse, or a query name that is not in the catalog."""


class ColumnNotRead(ForensicsError):
    """A statement needed a column that a narrow load left out (it raises rather than read NULL)."""


class UsageError(ForensicsError):
    """A command given something it cannot take: the CLI exits 2."""


class UnknownQueryError(CatalogError, UsageError):
    """A query name that is not in the catalog (or not a valid name at all)."""


class ParameterError(UsageError):
    """A query parameter (or an option's value) that is unknown, missing, of the wrong form or out of range."""


class NoSourceError(SourceError):
    """No log named anywhere (flag, environment, config): every reading command exits 2 with the same sentence.

    Not a UsageError: the alarm keeps its documented exit 3 (could not evaluate) for it, which
    cron's dead man's switch reads; the other commands' `handle_errors` make it exit 2.
    """


class ConfigError(SourceError, UsageError):
    """A config file with a key it does not know (a typo would otherwise read nothing): exit 2."""
