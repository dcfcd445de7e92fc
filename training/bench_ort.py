"""Time the same model files through onnxruntime and print them beside tract's figures.

    training/.venv/bin/python training/bench_ort.py --tract tract.jsonl MODEL...

`tract.jsonl` is written by `moodkiosk bench --save tract.jsonl MODEL...`. Both sides: one thread, batch 1,
input 1x1x96x96, median and p90 over --runs timed runs after --warmup untimed ones. The first
model is the reference for the ratios (normally the fp32 model).
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort


def time_ort(path: Path, runs: int, warmup: int) -> dict:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 1, 96, 96), dtype=np.float32)
    name = s.get_inputs()[0].name
    times = []
    for i in range(warmup + runs):
        t = time.perf_counter()
        s.run(None, {name: x})
        if i >= warmup:
            times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return {"median_ms": times[len(times) // 2], "p90_ms": times[len(times) * 9 // 10]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--tract", type=Path, required=True, help="written by `moodkiosk bench --save`")
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    args = ap.parse_args()
    tract = {}
    for line in args.tract.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            tract[Path(r["model"]).resolve()] = r
    rows = []
    for m in args.models:
        t = tract.get(m.resolve())
        if t is None:
            raise SystemExit(f"{m}: not in {args.tract}; run moodkiosk bench --save on the same files")
        rows.append((m, t["classify"], time_ort(m, args.runs, args.warmup)))
    print(f"onnxruntime {ort.__version__}; one thread, batch 1, 1x1x96x96; ratios against {rows[0][0].name}")
    print(f"{'model':<28} {'tract med':>10} {'tract p90':>10} {'ORT med':>9} {'ORT p90':>9} {'tract/ORT':>10} "
          f"{'tract ratio':>12} {'ORT ratio':>10}")
    t0, o0 = rows[0][1]["median_ms"], rows[0][2]["median_ms"]
    for m, t, o in rows:
        print(f"{m.name:<28} {t['median_ms']:>10.3f} {t['p90_ms']:>10.3f} {o['median_ms']:>9.3f} {o['p90_ms']:>9.3f} "
              f"{t['median_ms'] / o['median_ms']:>10.2f} {t['median_ms'] / t0:>12.2f} {o['median_ms'] / o0:>10.2f}")


if __name__ == "__main__":
    main()
