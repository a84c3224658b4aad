"""A one-file source is followed only through the names `name.N`, `name-DATE` beside it.
logrotate's `extension .jsonl` (sessions.1.jsonl, sessions-20261201.jsonl), `olddir`, and a
`dateformat` with a dot before the date are common, and the rows written between the last
ingest and the rotation are lost."""
from common import *
import os, json

def scenario(label, rotate):
    d = workdir("rotnames")
    log = d / "sessions.jsonl"
    write(log, rows(5))
    st = d / "store"
    ingest(st, [str(log)])
    append(log, rows(3, 5))            # written after the last ingest
    rotated = rotate(d, log)           # logrotate (create)
    write(log, rows(2, 8))
    rep = ingest(st)
    with forensics.connect(store=str(st)) as s:
        n = s.execute("select count(*) from sessions").rows[0][0]
    print(f"{label:42} store holds {n} of 10 sessions; ingest read {[(Path(f.path).name, f.action, f.rows) for f in rep.files]}")

def mv(new):
    def rotate(d, log):
        target = d / new
        target.parent.mkdir(exist_ok=True)
        os.rename(log, target)
        return target
    return rotate

scenario("sessions.jsonl.1 (the default)", mv("sessions.jsonl.1"))
scenario("sessions.jsonl-20261201 (dateext)", mv("sessions.jsonl-20261201"))
scenario("sessions.1.jsonl (extension .jsonl)", mv("sessions.1.jsonl"))
scenario("sessions-20261201.jsonl (extension+dateext)", mv("sessions-20261201.jsonl"))
scenario("old/sessions.jsonl.1 (olddir old)", mv("old/sessions.jsonl.1"))
scenario("sessions.jsonl.20261201 (dateformat .%Y%m%d)", mv("sessions.jsonl.20261201"))
