"""`sql` over `line` when the file holds blank lines: the cold read turns `line` into physical
line numbers only when the result also holds `source_file`; the store's rows carry physical
lines always. The same statement answers differently on the store and on a cold read."""
from common import *

d = workdir("lines")
log = d / "sessions.jsonl"
write(log, rows(3) + [b"\n", b"\n"] + rows(3, 3))
st = d / "store"
ingest(st, [str(log)])
for sql in ("select session_id, source_file, line from sessions where session_id = 's-4'",
            "select session_id, line from sessions where session_id = 's-4'",
            "select count(*) from sessions where line > 4",
            "select max(line) from sessions",
            "select session_id, line from attempts where session_id = 's-4'"):
    out = []
    for args in (["-s", log], ["--store", st]):
        code, o, e = cli("sql", sql, "-f", "csv", *args)
        out.append(o.strip().replace(str(log), "LOG").replace("\n", " | ") or e.strip()[-100:])
    print(f"{sql}\n    cold : {out[0]}\n    store: {out[1]}")
with forensics.connect(sessions=[str(log)]) as b, forensics.connect(store=str(st)) as a:
    b.check()
    sql = "select session_id, line from sessions where session_id = 's-4'"
    print("python, cold after .check():", b.execute(sql).rows, " store:", a.execute(sql).rows)
