"""A one-file source whose name holds a glob character (`sess[1].jsonl`, `app?.jsonl`) is not
followed through its rotations: rows written between the last ingest and logrotate's
`create` rename are lost (a plain name, `sess1.jsonl`, keeps them)."""
from common import *
import os

for name in ["sess1.jsonl", "sess[1].jsonl", "app?.jsonl"]:
    d = workdir("globrot")
    log = d / name
    write(log, rows(5))
    st = d / "store"
    ingest(st, [str(log)])
    append(log, rows(3, 5))                 # written after the ingest...
    os.rename(log, str(log) + ".1")         # ...then logrotate (create)
    write(log, rows(2, 8))
    rep = ingest(st)
    print(repr(name), "ingest:", [(Path(f.path).name, f.action, f.rows) for f in rep.files])
    with forensics.connect(store=str(st)) as s:
        n = s.execute("select count(*) from sessions").rows[0][0]
    print(repr(name), f"store holds {n} sessions; 10 were written")
