"""Two logs in one folder source that begin with the same row (their common prefix is one
row, ~400 bytes, far below 4,096): `cp a.jsonl c.jsonl` then both are written to, or two
daemons that start with the same header row. docs/STORE.md limits the confusion to files
whose first 4,096 bytes are equal. Here the second file is read from the first's offset:
a row of c is lost and a row of a is stored twice, for good."""
from common import *

d = workdir("prefix")
logs = d / "logs"; logs.mkdir()
a, c = logs / "a.jsonl", logs / "c.jsonl"
r0, r1, r2, r3 = rows(4)
write(a, [r0])
st = d / "store"
ingest(st, [str(logs)])
append(a, [r1])                 # a grows
write(c, [r0, r2, r3])          # c: a copy of a's first row, then its own rows
rep = ingest(st)
print("ingest 2:", [(Path(f.path).name, f.action, f.rows) for f in rep.files])
compare(st, [a, c])
rep = ingest(st)
print("ingest 3:", [(Path(f.path).name, f.action, f.rows) for f in rep.files])
compare(st, [a, c])
