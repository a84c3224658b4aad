"""The options and choices the command groups share, declared once."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..output import FORMATS

# The output formats: one per renderer in the format registry (output.FORMATS).
Format = Enum("Format", {k: k for k in FORMATS}, type=str)


class ReportFormat(str, Enum):
    """How `forensics report` prints."""

    markdown = "markdown"
    html = "html"


class FailOn(str, Enum):
    """The lowest severity that sets the alarm's exit code."""

    critical = "critical"
    warn = "warn"


class AlarmFormat(str, Enum):
    """Text for cron's mail, or one JSON object."""

    text = "text"
    json = "json"


class Engine(str, Enum):
    """What answers the queries: DuckDB in this process, or Apache Spark over a store."""

    duckdb = "duckdb"
    spark = "spark"


# Shared source options, declared once and used by every command that reads logs.
SessionsOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--sessions",
        "-s",
        metavar="PATH",
        help="sessions.jsonl: a file, glob or directory (repeatable). Else $FORENSICS_SESSIONS.",
    ),
]
ReplayOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--replay-runs",
        "-r",
        metavar="PATH",
        help="replay_runs.jsonl: a file, glob or directory (repeatable). Else $FORENSICS_REPLAY_RUNS.",
    ),
]
ConfigOpt = Annotated[
    Optional[Path],
    typer.Option("--config", metavar="FILE", help="A forensics.toml or lakehouse.toml (default: ./forensics.toml)."),
]
QueriesOpt = Annotated[
    Optional[list[Path]],
    typer.Option(
        "--queries-dir",
        "-q",
        metavar="DIR",
        help="More named queries (repeatable; overrides built-ins of the same name). Also $FORENSICS_QUERIES.",
    ),
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
TablefmtOpt = Annotated[str, typer.Option("--tablefmt", help="tabulate style for --format table.")]
LimitOpt = Annotated[
    Optional[int], typer.Option(min=0, help="Print at most N rows (stderr says how many were left out).")
]
SinceOpt = Annotated[
    Optional[str],
    typer.Option(
        metavar="AGE|TIME", help="Only rows at or after this: 15m, 24h, 7d or an ISO time (the query's `since`)."
    ),
]
UntilOpt = Annotated[
    Optional[str], typer.Option(metavar="AGE|TIME", help="Only rows before this (the query's `until`).")
]
StoreOpt = Annotated[
    Optional[str],
    typer.Option(
        "--store",
        metavar="DIR",
        help="A store `forensics ingest` keeps: read it plus each source's live tail. Else $FORENSICS_STORE.",
    ),
]
IngestOpt = Annotated[bool, typer.Option("--ingest", help="With a store: ingest the new lines first.")]
EngineOpt = Annotated[
    Engine,
    typer.Option(
        "--engine",
        help="duckdb, in this process; or spark: the store's Parquet files read by Apache Spark "
        "(--store DIR or a URL such as s3a://bucket/store; pip install 'forensics[spark]').",
    ),
]
SparkMasterOpt = Annotated[
    Optional[str],
    typer.Option("--spark-master", metavar="URL", help="With --engine spark: where Spark runs (default local[*])."),
]
SparkRemoteOpt = Annotated[
    Optional[str],
    typer.Option(
        "--spark-remote",
        metavar="sc://HOST:PORT",
        help="With --engine spark: a Spark Connect server. Else $SPARK_REMOTE.",
    ),
]
