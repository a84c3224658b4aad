"""alarm --store vs the cold alarm: exit codes, state file corrupted/deleted, torn tail."""
from common import *
import json
from datetime import datetime, timedelta, timezone

now = datetime.now(timezone.utc)
def recent(n, start=0, minutes_ago=5, **kw):
    t = (now - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [session(f"r-{i}", ts=t, **kw) for i in range(start, start + n)]

def alarm(*args):
    code, out, err = cli("alarm", "--since", "15m", "--format", "json", *args)
    try:
        j = json.loads(out)
        return code, j["status"], j.get("reason"), len(j["violations"]), j["checked"].get("rows"), err.strip()[-300:]
    except Exception:
        return code, out[-300:], err[-600:]

d = workdir("alarm")
log = d / "sessions.jsonl"
write(log, recent(5))
st = d / "store"
print("1 cold  :", alarm("-s", log))
print("1 store :", alarm("--store", st, "-s", log))
append(log, recent(1, 10, grounded=False))
print("2 cold  :", alarm("-s", log))
print("2 store :", alarm("--store", st))
print("3 store again (violation already seen):", alarm("--store", st))
append(log, recent(2, 20), raw=b'{"schema": "session.iterate.v1", "sess')
print("4 cold torn :", alarm("-s", log))
print("4 store torn:", alarm("--store", st))
(st / "alarm-state.json").write_text("{corrupt")
append(log, [], raw=b'ion_id": "x", "timestamp": "2026-01-01T00:00:00Z", "final_verdict": "accepted", "kind": "fill", "grounded_in_roster": false}\n')
print("5 store state corrupt, late old-timestamp violation:", alarm("--store", st))
(st / "alarm-state.json").write_text(json.dumps({"batch": 10**6}))
append(log, recent(1, 30, grounded=False))
print("6 store state batch from the future, new violation:", alarm("--store", st))
(st / "alarm-state.json").unlink()
(st / "alarm-state.json").mkdir()
print("7 store state is a folder:", alarm("--store", st))
