"""File output: full session rows, found by file and line, written as JSONL or Parquet."""

from __future__ import annotations

import json
from pathlib import Path

from .lines import ordinals_of


def write_rows(store, keys: list[tuple[str, int]], path: Path) -> int:
    """Write the full session rows at (source_file, physical line) keys to JSONL, or Parquet by extension."""
    from .output import plain

    wanted = []
    by_file: dict[str, list[int]] = {}
    for source_file, line in keys:
        if source_file is not None and line is not None:
            by_file.setdefault(source_file, []).append(line)
    for source_file, lines in by_file.items():
        # The views number non-blank lines; a file with blank lines is mapped back.
        back = ordinals_of(store._readable_path(source_file), lines) if store._has_blank_lines(source_file) else {}
        wanted += [(source_file, back.get(ln, ln)) for ln in lines]
    con = store.con
    con.execute("create or replace temp table _wanted (source_file varchar, line bigint)")
    if wanted:
        con.executemany("insert into _wanted values (?, ?)", [list(k) for k in wanted])
    # From the files, not the (possibly narrow) loaded table: the full rows.
    rel = con.sql(
        """select s.* from _sessions_files as s
        semi join _wanted as w on w.source_file = s.source_file and w.line = s.line
        order by s.source_file, s.line""")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        store._run(lambda: rel.write_parquet(str(path)))
        return len(wanted)
    columns = rel.columns
    rows = store._run(rel.fetchall)
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            rec = dict(zip(columns, row))
            for k in ("artifact", "grounded_in_roster_raw"):
                if isinstance(rec.get(k), str):
                    rec[k] = json.loads(rec[k])
            fh.write(json.dumps(plain(rec), ensure_ascii=False) + "\n")
    return len(rows)
