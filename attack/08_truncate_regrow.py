"""copytruncate, then the file grows past its old offset before the next ingest, and its
first bytes are what they were (the daemon writes the same first row after a restart, or a
job rewrites its log from the same start). The store takes it for the old file grown: the
rows before the old offset are never read, and the rows after are attributed wrongly."""
from common import *
import os, shutil

d = workdir("regrow")
log = d / "sessions.jsonl"
head = rows(1)                      # the same first row every time the log starts
write(log, head)                    # one row when the cron ingest ran
st = d / "store"
ingest(st, [str(log)])
shutil.copy(log, str(log) + ".1")   # logrotate copytruncate: copy...
os.truncate(log, 0)                 # ...and truncate
append(log, head + rows(8, 100))    # the daemon starts over: the same first row, then new rows
rep = ingest(st)
print("ingest:", [(Path(f.path).name, f.action, f.rows) for f in rep.files])
compare(st, [str(log) + ".1", log])
