"""Odd bytes in the ingested part and in the live tail: blank lines, CRLF, a BOM, invalid
UTF-8, repeated keys, a replay row in the sessions stream, lone CR, NUL, a huge line."""
from common import *
import json

def sess_bytes(i, **kw):
    return line(rows(1, i)[0] | kw)

big = session("s-big", ts="2026-11-12T00:00:00Z", prompt="x" * (20 << 20))
cases = {
    "blank": [b"\n", b"   \n", b"\t\n"],
    "crlf": [sess_bytes(100).replace(b"\n", b"\r\n"), b"\r\n"],
    "bom_mid": [b"\xef\xbb\xbf" + sess_bytes(100)],
    "invalid_utf8": [sess_bytes(100).replace(b'"p"', b'"\xff\xfe"')],
    "dup_keys": [sess_bytes(100)[:-2] + b', "model": "m-z"}\n'],
    "replay_row": [line(replay("s-1", 2))],
    "lone_cr": [sess_bytes(100)[:-1] + b"\r" + sess_bytes(101)],
    "nul": [b"\x00" * 10 + b"\n"],
    "not_obj": [b"[1,2]\n", b"42\n", b"null\n", b"{}\n"],
    "big_line": [line(big)],
}
for where in ("tail", "ingested"):
    for name, junk in cases.items():
        d = workdir(name)
        log = d / "sessions.jsonl"
        write(log, [b"\xef\xbb\xbf" + line(rows(1)[0])] + rows(4, 1))   # a BOM at the very start
        st = d / "store"
        try:
            if where == "ingested":
                append(log, junk + rows(3, 5))
                ingest(st, [str(log)])
            else:
                ingest(st, [str(log)])
                append(log, junk + rows(3, 5))
            diffs = compare(st, [log], verbose=False)
            ingest(st)
            diffs2 = compare(st, [log], verbose=False)
            print(where, name, "OK" if not diffs and not diffs2 else ("before 2nd ingest", diffs, "after", diffs2))
        except Exception as exc:
            print(where, name, "CRASH", type(exc).__name__, str(exc)[:300])
