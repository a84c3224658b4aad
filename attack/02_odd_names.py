"""Odd names: sources and store folders with glob characters, spaces, quotes, newlines, unicode."""
from common import *
import traceback

names = ["sess[1].jsonl", "sess*x.jsonl", "sess?.jsonl", "with space.jsonl", "quo'te\".jsonl",
         "new\nline.jsonl", "ünï—code.jsonl", "{a,b}.jsonl", "back\\slash.jsonl"]
for name in names:
    d = workdir("names")
    log = d / name
    write(log, rows(5))
    st = d / "store"
    try:
        ingest(st, [str(log)])
        append(log, rows(3, 5), raw=b'{"torn')
        diffs = compare(st, [log], verbose=False)
        print(repr(name), "OK" if not diffs else diffs)
    except Exception as exc:
        print(repr(name), "CRASH", type(exc).__name__, str(exc)[:300])

for sname in ["store[1]", "store*", "st ore", "st'ore", "stö?re", "st{a,b}"]:
    d = workdir("storenames")
    log = d / "sessions.jsonl"
    write(log, rows(5))
    st = d / sname
    try:
        ingest(st, [str(log)])
        append(log, rows(3, 5))
        ingest(st)
        diffs = compare(st, [log], verbose=False)
        print("store", repr(sname), "OK" if not diffs else diffs)
    except Exception as exc:
        print("store", repr(sname), "CRASH", type(exc).__name__, str(exc)[:300])
