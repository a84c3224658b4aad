"""More than 8 files (the reader's one-table-function path) with odd names, in the live tail
and in an ingest; some new (read in place), some grown (read from a copy)."""
from common import *

names = ["a[1].jsonl", "b*.jsonl", "c?.jsonl", "d e.jsonl", "f'g.jsonl", "h\nnl.jsonl", "ü.jsonl",
         "plain1.jsonl", "plain2.jsonl", "plain3.jsonl", "x{1,2}.jsonl", "y\\z.jsonl"]
d = workdir("many")
logs = d / "logs"; logs.mkdir()
for i, n in enumerate(names[:6]):
    write(logs / n, rows(3, 100 * i) + [b"\n"])
st = d / "store"
ingest(st, [str(logs)])
for i, n in enumerate(names):
    append(logs / n, rows(2, 100 * i + 50) + [b"\n", b"{bad\n"])
files = sorted(logs.iterdir())
print("reader, 12 tails:", compare(st, files, verbose=False) or "OK")
ingest(st)
print("after ingest    :", compare(st, files, verbose=False) or "OK")

d = workdir("many2")
logs = d / "logs"; logs.mkdir()
for i, n in enumerate(names):
    write(logs / n, [b"\n"] + rows(3, 100 * i) + [b"{bad\n"])
st = d / "store"
ingest(st, [str(logs)])
print("first ingest of 12 files:", compare(st, sorted(logs.iterdir()), verbose=False) or "OK")
