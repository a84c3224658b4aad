"""A damaged store: manifest.json corrupt in various ways, a truncated or missing Parquet file,
--store pointing at a file, an unwritable store. Every command should give one clear line and
exit 1 (alarm: 3), never a traceback or a wrong answer."""
from common import *
import json, os, shutil

def fresh():
    d = workdir("corrupt")
    log = d / "sessions.jsonl"
    write(log, rows(20))
    st = d / "store"
    ingest(st, [str(log)])
    append(log, rows(5, 20))
    ingest(st)
    return d, log, st

def show(label, st, log=None):
    for cmd in (["sql", "select count(*) from sessions", "--store", st],
                ["ingest", "--store", st],
                ["alarm", "--store", st, "--since", "15m"],
                ["doctor", "--store", st]):
        code, out, err = cli(*cmd)
        print(f"{label:28} {cmd[0]:7} exit={code} out={out.strip()[-120:]!r} err={err.strip()[-220:]!r}")

edits = {
    "manifest {}": lambda st: (st / "manifest.json").write_text("{}"),
    "manifest format only": lambda st: (st / "manifest.json").write_text('{"format": 1}'),
    "manifest list": lambda st: (st / "manifest.json").write_text('[]'),
    "manifest truncated": lambda st: (st / "manifest.json").write_bytes((st / "manifest.json").read_bytes()[:200]),
    "manifest files: null": lambda st: (st / "manifest.json").write_text(
        json.dumps({**json.loads((st / "manifest.json").read_text()), "files": None})),
    "manifest file entry no stream": lambda st: (st / "manifest.json").write_text(
        json.dumps({**(m := json.loads((st / "manifest.json").read_text())),
                    "files": [{k: v for k, v in f.items() if k != "stream"} for f in m["files"]]})),
    "manifest checkpoint bad key": lambda st: (st / "manifest.json").write_text(
        json.dumps({**(m := json.loads((st / "manifest.json").read_text())),
                    "checkpoints": [{"id": 1}]})),
    "manifest not utf-8": lambda st: (st / "manifest.json").write_bytes(b"\xff\xfe{}"),
    "parquet truncated": lambda st: [(st / f["path"]).write_bytes((st / f["path"]).read_bytes()[:100])
                                     for f in json.loads((st / "manifest.json").read_text())["files"][:1]],
    "parquet deleted": lambda st: [(st / f["path"]).unlink()
                                   for f in json.loads((st / "manifest.json").read_text())["files"][:1]],
}
for label, edit in edits.items():
    d, log, st = fresh()
    edit(st)
    show(label, st)

d, log, st = fresh()
show("--store is a file", log)
