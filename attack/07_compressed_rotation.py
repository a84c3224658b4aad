"""create + compress (no delaycompress) between two ingests, gzip and zstd, with rows written
after the last ingest; the reader before and after the next ingest; a partial copy."""
from common import *
import gzip, os, subprocess, zstandard

def compress(src, kind):
    data = Path(src).read_bytes()
    if kind == "gz":
        out = Path(str(src) + ".gz"); out.write_bytes(gzip.compress(data))
    else:
        out = Path(str(src) + ".zst")
        subprocess.run(["zstd", "-q", "--rm", "-f", str(src), "-o", str(out)], check=True)
    if Path(src).exists():
        os.unlink(src)
    return out

for kind in ("gz", "zst"):
    for spec_kind in ("file", "folder"):
        d = workdir("comp")
        logs = d / "logs"; logs.mkdir()
        log = logs / "sessions.jsonl"
        write(log, rows(10))
        st = d / "store"
        ingest(st, [str(log) if spec_kind == "file" else str(logs)])
        append(log, rows(3, 10))
        os.rename(log, str(log) + ".1")
        write(log, rows(2, 13))
        gz = compress(str(log) + ".1", kind)
        print(kind, spec_kind, "reader before ingest:", compare(st, [gz, log], verbose=False) or "OK")
        rep = ingest(st)
        print(kind, spec_kind, "ingest:", [(Path(f.path).name, f.action, f.rows) for f in rep.files])
        print(kind, spec_kind, "reader after ingest:", compare(st, [gz, log], verbose=False) or "OK")
        rep = ingest(st)
        print(kind, spec_kind, "ingest again:", [(Path(f.path).name, f.action, f.rows) for f in rep.files])

# a gzip still being written: partial, then complete
d = workdir("partial")
log = d / "sessions.jsonl"
write(log, rows(10)); st = d / "store"; ingest(st, [str(log)])
append(log, rows(3, 10))
os.rename(log, str(log) + ".1"); write(log, rows(2, 13))
data = gzip.compress(Path(str(log) + ".1").read_bytes())
os.unlink(str(log) + ".1")
gz = Path(str(log) + ".1.gz"); gz.write_bytes(data[: len(data) // 2])
rep = ingest(st)
print("partial gz ingest:", [(Path(f.path).name, f.action, f.rows, f.reason) for f in rep.files], rep.warnings)
code, out, err = cli("sql", "select count(*) from sessions", "--store", st)
print("partial gz sql:", code, out.strip()[-80:], err.strip()[-300:])
gz.write_bytes(data)
rep = ingest(st)
print("complete gz ingest:", [(Path(f.path).name, f.action, f.rows) for f in rep.files])
print("after:", compare(st, [gz, log], verbose=False) or "OK")
