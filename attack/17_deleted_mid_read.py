"""A file deleted (or replaced) between planning and reading: in an ingest, in a reader."""
from common import *
import os, forensics.storeview as sv, forensics.checkpoints as cp

orig = sv.plan
def plan_then(action):
    def wrapped(*a, **kw):
        out = orig(*a, **kw)
        action()
        return out
    return wrapped

for label, first_ingest in (("grown file (copy)", True), ("new file (in place)", False)):
    for what in ("delete", "replace"):
        d = workdir("del")
        logs = d / "logs"; logs.mkdir()
        log = logs / "sessions.jsonl"; other = logs / "b.jsonl"
        write(log, rows(5)); st = d / "store"
        if first_ingest:
            ingest(st, [str(logs)])
        else:
            os.rename(log, other); ingest(st, [str(logs)]); write(log, rows(1, 600))
        append(log, rows(3, 5))
        def act():
            if what == "delete":
                os.unlink(log)
            else:
                os.rename(log, str(log) + ".1"); write(log, rows(2, 900))
        sv.plan = plan_then(act)
        try:
            rep = ingest(st)
            print(label, what, "ingest:", [(Path(f.path).name, f.action, f.rows, f.reason[:60]) for f in rep.files])
        except Exception as exc:
            print(label, what, "ingest CRASH:", type(exc).__name__, str(exc)[:200])
        finally:
            sv.plan = orig
        from forensics.sources import expand
        try:
            files = expand(logs)
            print("   then:", compare(st, files, verbose=False) or "OK")
        except Exception as exc:
            print("   then: CRASH", type(exc).__name__, str(exc)[:200])
