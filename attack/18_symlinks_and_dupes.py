"""Symlinked sources, a symlink repointed, a source given twice / as file and folder, the same
file as sessions and replay, an empty file."""
from common import *
import os
from forensics.sources import resolve

def cold_files(sessions, replays=()):
    src = resolve([str(s) for s in sessions], [str(r) for r in replays] or None)
    return src.sessions or [], src.replay_runs or []

def check(label, st, sessions, replays=()):
    s, r = cold_files(sessions, replays)
    try:
        print(f"{label:45}", compare(st, s, r or None, verbose=False) or "OK")
    except Exception as exc:
        print(f"{label:45} CRASH {type(exc).__name__}: {str(exc)[:200]}")

# 1. a symlink to the log, repointed to another log
d = workdir("sym"); a, b, link = d / "a.jsonl", d / "b.jsonl", d / "current.jsonl"
write(a, rows(5)); write(b, rows(3, 100)); os.symlink(a, link)
st = d / "store"; ingest(st, [str(link)])
append(a, rows(2, 5))
check("symlink, grown", st, [link])
os.unlink(link); os.symlink(b, link)
check("symlink repointed (reader)", st, [link])
rep = ingest(st)
print("   ingest:", [(Path(f.path).name, f.action, f.rows) for f in rep.files])
check("symlink repointed (after ingest)", st, [link])
with forensics.connect(store=str(st)) as s:
    print("   store files:", s.execute("select source_file, count(*) from sessions group by all order by all").rows)

# 2. a source given twice, as file and folder, through a symlinked folder
d = workdir("dup"); logs = d / "logs"; logs.mkdir(); log = logs / "sessions.jsonl"
write(log, rows(5)); os.symlink(logs, d / "alias")
specs = [str(log), str(logs), str(d / "alias"), str(d / "alias" / "sessions.jsonl"), str(log)]
st = d / "store"; rep = ingest(st, specs)
print("given 5 ways, ingest rows:", rep.rows)
append(log, rows(2, 5))
check("given 5 ways (reader)", st, specs)
ingest(st); check("given 5 ways (after ingest)", st, specs)

# 3. the same file as sessions and replay
d = workdir("both"); log = d / "mixed.jsonl"
write(log, rows(4) + [replay("s-1", 2), replay("s-2", 1)])
st = d / "store"; rep = ingest(st, [str(log)], [str(log)])
print("same file -s and -r, ingest rows:", rep.rows, "unreadable", rep.unreadable)
append(log, [replay("s-3", 3)] + rows(1, 50))
check("same file -s and -r (reader)", st, [log], [log])

# 4. an empty file, then one that gets rows
d = workdir("empty"); log = d / "sessions.jsonl"; log.write_bytes(b"")
st = d / "store"
code, out, err = cli("ingest", "--store", st, "-s", log)
print("empty file ingest:", code, out.strip().splitlines()[-1:], err.strip()[-200:])
code, out, err = cli("sql", "select count(*) from sessions", "--store", st)
print("empty file sql   :", code, out.strip().splitlines()[-1:], err.strip()[-200:])
write(log, rows(2))
check("empty file then rows", st, [log])
