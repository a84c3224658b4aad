"""export --store and doctor --store against the same commands on a cold read."""
from common import *
import json, duckdb

d = workdir("export")
logs = d / "logs"; logs.mkdir()
log, rlog = logs / "sessions.jsonl", logs / "replay_runs.jsonl"
write(log, rows(30) + [b"\n", b"{bad\n"])
write(rlog, [replay(f"s-{i}", i % 3) for i in range(0, 30, 3)])
st = d / "store"
ingest(st, [str(log)], [str(rlog)])
append(log, [b"\n"] + rows(10, 30) + [b"{bad2\n"], raw=b'{"torn')
append(rlog, [replay("s-31", 1)])

def exported(args, out):
    code, o, e = cli("export", "-o", out, "-f", "jsonl", "--force", *args)
    res = {}
    for v in ("sessions", "attempts", "replay_runs"):
        p = out / f"{v}.jsonl"
        if p.exists():
            res[v] = sorted(json.dumps(json.loads(l), sort_keys=True) for l in p.read_text().splitlines())
    return code, o.strip(), e.strip(), res

a = exported(["--store", st], d / "ex-store")
b = exported(["-s", log, "-r", rlog], d / "ex-cold")
print("export store:", a[0], a[1], "|", a[2][-300:])
print("export cold :", b[0], b[1], "|", b[2][-300:])
for v in b[3]:
    sa, sb = set(a[3].get(v, [])), set(b[3][v])
    print(f"  {v}: store {len(a[3].get(v, []))} cold {len(b[3][v])}; only store {len(sa - sb)}, only cold {len(sb - sa)}")
    if sa ^ sb:
        print("    e.g. store:", sorted(sa - sb)[:1][0][:300] if sa - sb else None)
        print("    e.g. cold :", sorted(sb - sa)[:1][0][:300] if sb - sa else None)

for args in (["--store", st], ["-s", log, "-r", rlog]):
    code, o, e = cli("doctor", *args)
    print("doctor", args[0], "exit", code)
    print("   ", o.strip().replace("\n", "\n    ")[:1500])
    print("   err:", e.strip()[:400])
