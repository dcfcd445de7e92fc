#!/usr/bin/env python3
"""What a guest's mood journal holds, read from the host: one JSON object on stdout.

    cross/vm/journal.py ROOT/var/lib/moodkiosk/journal

lines (all lines of all day files), bad (lines that are not a JSON object), visitors, happy,
not_happy, seqs (of visitor records, in file order), max_seq, repeated (seqs seen twice).
A missing folder reads as empty.
"""
import json
import sys
from pathlib import Path

folder = Path(sys.argv[1])
out = {"lines": 0, "bad": 0, "visitors": 0, "happy": 0, "not_happy": 0, "seqs": []}
files = sorted(folder.glob("mood-*.jsonl")) if folder.is_dir() else []
for f in files:
    for line in f.read_bytes().splitlines():
        out["lines"] += 1
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict):
                raise ValueError("not an object")
        except ValueError:
            out["bad"] += 1
            continue
        if rec.get("type") == "visitor":
            out["visitors"] += 1
            if rec.get("mood") in ("happy", "not_happy"):
                out[rec["mood"]] += 1
            out["seqs"].append(rec.get("seq"))
seen, repeated = set(), []
for s in out["seqs"]:
    if s in seen:
        repeated.append(s)
    seen.add(s)
out["max_seq"] = max((s for s in out["seqs"] if isinstance(s, int)), default=0)
out["repeated"] = repeated
json.dump(out, sys.stdout)
print()
