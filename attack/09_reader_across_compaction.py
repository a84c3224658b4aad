"""A reader opened before an ingest + compaction, queried after (a notebook left open)."""
from common import *
import forensics.ingest as ing

d = workdir("compact")
logs = d / "logs"; logs.mkdir()
log = logs / "sessions.jsonl"
write(log, rows(10))
st = d / "store"
ingest(st, [str(logs)])
for i in range(3):
    append(log, rows(5, 10 + 5 * i))
    ingest(st)
append(log, rows(5, 100))              # a live tail (copied by the reader)
write(logs / "b.jsonl", rows(4, 200))  # a new file (read in place by the reader)
s = forensics.connect(store=str(st))
want = s.execute(ROWSQL).rows
append(log, rows(5, 300))
append(logs / "b.jsonl", rows(3, 400))
rep = ingest(st, compact=True)
print("ingest --compact: compacted", rep.compacted, "rows", rep.rows)
got = s.execute(ROWSQL).rows
print("reader opened before, queried after:", "same" if got == want else f"{len(want)} rows before, {len(got)} after; "
      f"new: {sorted(set(got) - set(want), key=repr)[:3]}")
s.close()
compare(st, [log, logs / "b.jsonl"])
# the retired files, an hour later
ing.RETIRE_AFTER_S = 0
s = forensics.connect(store=str(st))
append(log, rows(1, 500))
ingest(st, compact=True)
try:
    print("after retirement:", len(s.execute(ROWSQL).rows))
except Exception as exc:
    print("after retirement:", type(exc).__name__, str(exc)[:200])
compare(st, [log, logs / "b.jsonl"])
