"""`forensics ingest --store DIR -s NEW` on a store made with `-s OLD` replaces OLD: OLD is no
longer followed, nothing says so (not ingest, not doctor --store), and every reading command
keeps answering with OLD's stored rows but without its new ones."""
from common import *
import json, os, time

d = workdir("newsrc")
old, new = d / "validatord.jsonl", d / "gateway.jsonl"
write(old, rows(20))
st = d / "store"
print(cli("ingest", "--store", st, "-s", old)[1].strip())
write(new, rows(3, 900))
code, out, err = cli("ingest", "--store", st, "-s", new)     # "add the gateway's log"
print("ingest -s new:", code, out.strip(), err.strip())
append(old, rows(5, 20))                                     # validatord keeps writing
past = time.time() - 3600
os.utime(old, (past, past))                                  # ... an hour ago
print(cli("ingest", "--store", st)[1].strip())
code, out, err = cli("doctor", "--store", st, "--grace", "10m")
print("doctor --store: exit", code, [l for l in out.splitlines() if l.startswith(("store:", "STUCK", "NOT"))], err.strip()[-200:])
code, out, err = cli("sql", "select count(*) from sessions", "--store", st, "-f", "csv")
print("store says", out.split()[-1], "sessions; the two logs hold", 25 + 3)
