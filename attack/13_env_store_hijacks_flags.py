"""With FORENSICS_STORE set (cron's environment, a shared profile), `-s FILE` no longer means
"read FILE": reading commands answer with the whole store plus FILE, and `alarm -s FILE`
ingests FILE into the store and makes it the store's only sessions source for good: the
production log stops being ingested, silently."""
from common import *
import json

d = workdir("envstore")
prod = d / "sessions.jsonl"
write(prod, rows(20))
st = d / "store"
ingest(st, [str(prod)])
incident = d / "incident.jsonl"
write(incident, rows(3, 900))
env = {"FORENSICS_STORE": str(st)}

code, out, err = cli("sql", "select count(*) as n from sessions", "-s", incident, "-f", "csv", env=env)
print("sql -s incident.jsonl  (FORENSICS_STORE set):", out.split()[-1], "sessions; incident.jsonl holds 3;", err.strip()[-150:])
code, out, err = cli("sql", "select count(*) as n from sessions", "-s", incident, "-f", "csv")
print("sql -s incident.jsonl  (no FORENSICS_STORE)  :", out.split()[-1], "sessions")

code, out, err = cli("alarm", "-s", incident, "--format", "json", env=env)
print("alarm -s incident.jsonl (FORENSICS_STORE set): exit", code, "rows", json.loads(out)["checked"]["rows"])
print("store's sources now:", json.loads((st / "manifest.json").read_text())["sources"]["sessions"])
append(prod, rows(5, 20))
print("later cron:", cli("ingest", "--store", st)[1].strip().splitlines()[-1], "  <- production's 5 new rows not read")
