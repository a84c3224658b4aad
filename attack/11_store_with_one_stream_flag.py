"""A reading command given --store and sources for one stream (`-s LOG`) drops the other
stream's live tail: replay rows written since the last ingest vanish (ingest, given only -s,
keeps the store's replay sources)."""
from common import *

d = workdir("onestream")
log, rlog = d / "sessions.jsonl", d / "replay_runs.jsonl"
write(log, rows(20))
write(rlog, [replay(f"s-{i}", 2) for i in range(0, 20, 2)])
st = d / "store"
ingest(st, [str(log)], [str(rlog)])
append(log, rows(5, 20))
append(rlog, [replay("s-20", 1), replay("s-22", 1)])
Q = "select (select count(*) from sessions) as s, (select count(*) from replay_runs) as r"
for args in (["-s", log, "-r", rlog], ["--store", st], ["--store", st, "-s", log], ["--store", st, "-r", rlog]):
    code, out, err = cli("sql", Q, "-f", "csv", *args)
    print(f"{' '.join(a if isinstance(a, str) else a.name for a in args):45} exit {code}: sessions,replays = {out.split()[-1]}  {err.strip()[-120:]}")
