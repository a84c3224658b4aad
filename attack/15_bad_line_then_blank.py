"""An unreadable line followed only by blank lines at the end of the bytes read (a daemon killed
mid-line whose restart ends the torn line with a newline, then an empty line) makes every
reading command on the store, the ingest and the cron alarm fail: the line map's CSV is
empty and DuckDB cannot sniff it. A cold read of the same file is fine."""
from common import *

d = workdir("badblank")
log = d / "sessions.jsonl"
write(log, rows(5))
st = d / "store"
ingest(st, [str(log)])
append(log, rows(2, 5) + [b'{"schema": "session.iterate.v1", "sess\n', b"\n"])
for args in (["-s", log], ["--store", st]):
    code, out, err = cli("sql", "select count(*) from sessions", "-f", "csv", *args)
    print(f"sql {args[0]:8} exit {code}: {out.strip().splitlines()[-1] if out.strip() else ''} | {err.strip()}")
code, out, err = cli("ingest", "--store", st)
print("ingest --store: exit", code, out.strip(), "|", err.strip())
code, out, err = cli("alarm", "--store", st, "--since", "15m")
print("alarm --store: exit", code, out.strip(), "|", err.strip())
code, out, err = cli("alarm", "-s", log, "--since", "15m")
print("alarm -s     : exit", code, out.strip(), "|", err.strip())
# with a violation in the same tail and --max-unreadable 1: the cold alarm names it, the store's cannot
from datetime import datetime, timezone
t = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
d = workdir("badblank2"); log = d / "sessions.jsonl"; write(log, rows(5)); st = d / "store"; ingest(st, [str(log)])
append(log, [session("VIOLATION", ts=t, grounded=False), b'{"schema": "session.iterate.v1", "sess\n', b"\n"])
for args in (["-s", log], ["--store", st]):
    code, out, err = cli("alarm", "--since", "15m", "--max-unreadable", "1", *args)
    print(f"alarm {args[0]:8} --max-unreadable 1: exit {code}: {out.strip()[:200]} | {err.strip()[-200:]}")
