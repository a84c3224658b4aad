"""A store folder that cannot be written (a read-only mount, a full disk, another user's folder):
ingest, alarm --store, and the reading commands. Needs root (mounts a tmpfs)."""
from common import *
import subprocess, shutil, os, json

mnt = Path("/tmp/attack-rofs"); mnt.mkdir(exist_ok=True)
subprocess.run(["umount", str(mnt)], capture_output=True)
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], check=True)
try:
    d = workdir("ro"); log = d / "sessions.jsonl"; write(log, rows(5))
    st = mnt / "store"
    ingest(st, [str(log)])
    append(log, rows(2, 5))
    subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
    for cmd in (["ingest", "--store", st, "--lock-wait", "2"],
                ["alarm", "--store", st, "--since", "15m", "--lock-wait", "2"],
                ["sql", "select count(*) from sessions", "--store", st, "-f", "csv"],
                ["sql", "select count(*) from sessions", "--store", st, "-f", "csv", "--ingest"]):
        code, out, err = cli(*cmd)
        print(f"read-only store: {cmd[0]:6} {'--ingest' if '--ingest' in cmd else '':8} exit {code}: {out.strip()[-60:]!r} {err.strip()[-250:]!r}")
    # full disk: the store's filesystem has no room for the new files
    subprocess.run(["mount", "-o", "remount,rw", str(mnt)], check=True)
    filler = mnt / "filler"
    with open(filler, "wb") as fh:
        try:
            while True: fh.write(b"\0" * 65536); fh.flush()
        except OSError: pass
    append(log, rows(200, 100))
    code, out, err = cli("ingest", "--store", st)
    print(f"full disk: ingest exit {code}: {out.strip()[-80:]!r} {err.strip()[-300:]!r}")
    filler.unlink()
    code, out, err = cli("ingest", "--store", st)
    print(f"disk freed: ingest exit {code}: {out.strip()[-80:]!r} {err.strip()[-300:]!r}")
    print("then:", compare(st, [log], verbose=False) or "OK")
    with forensics.connect(store=str(st)) as s:
        print("store:", s.execute("select count(*), count(distinct session_id) from sessions").rows, "lines on disk:", len(log.read_bytes().splitlines()))
    print("manifest batches:", [(b["batch"], b["rows"]["sessions"], b["bytes"]) for b in json.loads((st / "manifest.json").read_text())["batches"]])
finally:
    subprocess.run(["umount", str(mnt)], capture_output=True)
