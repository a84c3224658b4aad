"""The one exception family the CLI turns into a clear line and an exit code."""


class ForensicsError(Exception):
    """A problem the user can fix: a missing source, a bad parameter, an unknown query."""


class SourceError(ForensicsError):
    """A log source that does not exist or matches nothing."""


class CatalogError(ForensicsError):
    """A query file that does not parse, or a query name that is not in the catalog."""


class ParameterError(ForensicsError):
    """A query parameter that is unknown, missing or of the wrong form."""
