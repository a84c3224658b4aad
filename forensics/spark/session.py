"""Starting Spark: Spark Connect at a URL, else a local driver whose JVM output goes to a log of its
own (never to cron's mail); and which regex the session's server reads."""

from __future__ import annotations

import os
import weakref

from ..errors import ForensicsError, first_line
from .regex import RegexFlavour


def spark_session(master: str | None = None, remote: str | None = None):
    """A Spark session: Spark Connect at ``remote`` (or $SPARK_REMOTE), else a driver on ``master``."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # pyspark's note on the pandas version
            from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ForensicsError(
            "--engine spark needs pyspark: pip install 'forensics[spark]' (and Java 17 or newer for a local Spark)"
        ) from exc
    remote = remote or os.environ.get("SPARK_REMOTE")
    builder = SparkSession.builder.appName("forensics")
    if remote:
        builder = builder.remote(remote)
    else:
        master = master or "local[*]"
        builder = (
            builder.master(master).config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
        )
        if master.startswith("local"):
            # A laptop's data: a few shuffle partitions, not the cluster default of 200.
            builder = builder.config("spark.sql.shuffle.partitions", "8")
        # Spark makes its warehouse folder (spark-warehouse/) in the working directory unless told
        # otherwise: forensics keeps no table in it, so it goes to the user's cache, not the cwd.
        builder = builder.config("spark.sql.warehouse.dir", _warehouse())
    # The DuckDB semantics the queries are written for: UTC, and NULL (not an error) for an
    # index past the end or a division by zero.
    builder = builder.config("spark.sql.session.timeZone", "UTC").config("spark.sql.ansi.enabled", "false")
    try:
        with warnings.catch_warnings(), _jvm_stderr(None if remote else _driver_log()):
            warnings.simplefilter("ignore", FutureWarning)
            session = builder.getOrCreate()
    except Exception as exc:  # no Java, a master that does not answer: one clear line
        raise ForensicsError(f"could not start Spark: {first_line(exc)}") from exc
    if not remote:
        # Spark logs every failed statement with its stack; forensics says it in one line.
        session.sparkContext.setLogLevel("OFF")
    import logging

    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL + 1)
    return session


def _warehouse() -> str:
    """Spark's warehouse folder: under the user's private cache, else a fresh temporary folder."""
    import tempfile

    from ..paths import user_dir

    folder = user_dir("spark", "warehouse")
    return str(folder) if folder is not None else tempfile.mkdtemp(prefix="forensics-spark-warehouse-")


def _driver_log() -> str:
    """Where the local Spark driver's own output goes: the user's cache folder, never cron's mail."""
    from ..paths import user_dir

    folder = user_dir("spark")
    return str(folder / "driver.log") if folder is not None else os.devnull


class _jvm_stderr:
    """While the JVM starts, point file descriptor 2 at ``path``: the JVM keeps it for its life,
    so its start-up notes and log4j's lines go there, and this process's stderr stays ours."""

    def __init__(self, path: str | None):
        self.path = path

    def __enter__(self):
        if self.path is None:
            return self
        self.saved = os.dup(2)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(fd, 2)
        os.close(fd)
        return self

    def __exit__(self, *exc):
        if self.path is not None:
            os.dup2(self.saved, 2)
            os.close(self.saved)


# A text where RE2's ASCII \b differs from Java's (a letter past ASCII, a combining mark after a
# letter), and RE2's answer for `\b[0-9]` replaced by '#'.
_PROBE_TEXT = "\u00e91e\u03012_3 4"
_PROBE_RE2 = "\u00e9#e\u0301#_3 #"
_FLAVOURS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def regex_flavour(session) -> RegexFlavour:
    """The regex the session's server reads, asked of it once per session: Rust's (Sail) when it reads
    `(?-u:\\b)` as RE2's ASCII \\b, else Java's (Apache Spark: look-arounds, exact on any JVM)."""
    try:
        return _FLAVOURS[session]
    except (KeyError, TypeError):
        pass
    # Asked by behaviour, not by a version string: the one-pass spelling is chosen only where the
    # server is seen to give RE2's answer with it. A failed probe falls back to the look-arounds,
    # which a server without them refuses with an error, never another answer.
    try:
        row = session.sql(
            "select regexp_replace(:t, :p, '#') as r", args={"t": _PROBE_TEXT, "p": r"(?-u:\b)[0-9]"}
        ).collect()
        flavour = RegexFlavour.RUST if row and row[0][0] == _PROBE_RE2 else RegexFlavour.JAVA
    except Exception:
        flavour = RegexFlavour.JAVA
    try:
        _FLAVOURS[session] = flavour
    except TypeError:  # a session that cannot be weakly referenced is asked each time
        pass
    return flavour
