"""Timestamps with odd offsets and at the edges of the calendar: their day partition, the
store's answer, and the alarm's pruning by day."""
from common import *
import json, glob

stamps = ["2026-12-01T00:30:00+14:00", "2026-11-30T23:30:00-12:00", "2026-12-01T12:00:00.123456789Z",
          "2026-12-01t12:00:00z", "2026-12-01T23:59:60Z", "2026-12-01 12:00:00Z", "0001-01-01T00:30:00+01:00",
          "9999-12-31T23:30:00-12:00", "2026-12-01T12:00:00+23:59", "2026-12-01T12:00:00-00:00",
          "2026-02-30T00:00:00Z", "1969-12-31T23:59:59Z", "20261201T120000Z"]
d = workdir("ts")
log = d / "sessions.jsonl"
write(log, [session(f"t-{i}", ts=t, grounded=False) for i, t in enumerate(stamps)])
st = d / "store"
ingest(st, [str(log)])
print("partitions:", sorted(Path(p).name for p in glob.glob(str(st / "sessions" / "*"))))
compare(st, [log])
Q = "select session_id, timestamp_raw, timestamp from sessions order by session_id"
with forensics.connect(store=str(st)) as a, forensics.connect(sessions=[str(log)]) as b:
    b.check()
    for ra, rb in zip(a.execute(Q).rows, b.execute(Q).rows):
        if ra != rb: print("  differ:", ra, rb)
    print("  parsed:", [(r[1], str(r[2])) for r in a.execute(Q).rows])
# the alarm: a second run, after the batch that brought the rows is old
for args in (["-s", log], ["--store", st]):
    cli("alarm", "--since", "1h", *args)
    code, out, err = cli("alarm", "--since", "1h", "--format", "json", *args)
    j = json.loads(out)
    print(f"alarm 2nd run {args[0]:8}: exit {code}, violations {sorted(v['session_id'] for v in j['violations'])}")
