"""moodkiosk model factory: ``python -m mkt [stage] [options]``.

Stages (each runs alone and resumes; ``all`` runs them in this order, so that the models exist
before the remaining folds and the ablations, which only measure the recipe, train):
  prepare  read the data, clean it, build folds and the de-duplicated test set -> work/data.npz
           (and its manifest, work/test_manifest.csv)
  manifest only the test-set manifest (path,label,group) for `moodkiosk eval --manifest`, from
           index.csv alone
  compare  width 0.5 vs 1.0 on fold 1 -> work/compare.json
  calibrate  cross-validation fold 1 first (-> work/cv/fold0/), then from its out-of-fold
           logits: the temperature and happy-logit shift (built into the graph), ECE before /
           after, whether photos are flip-averaged (the model's metadata) -> work/calibration.json
  fit      final model on the whole training pool -> work/fit/
  export   ONNX fp32 into models/, then the quantize stage
  quantize models/moodkiosk-fp32.onnx -> int8 (QOperator, integer kernels in tract), scored on the
           test set with onnxruntime (needs only the prepare stage and the committed fp32 model)
  cv       5-fold cross-validation -> work/cv/fold*/ (fold 1 is already there from calibrate)
  ablate   each recipe choice undone on fold 1 -> work/ablate/*/
  ensemble the fold models on the test set, alone and averaged: how far the recipe reaches when
           several of its networks vote (a ceiling, not shipped) -> work/ensemble.json
  report   charts and tables into models/report/, models/MODEL_CARD.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from . import stages

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mkt", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", nargs="?", default="all",
                    choices=["all", "prepare", "manifest", "compare", "fit", "export", "quantize", "cv", "calibrate",
                             "ablate", "ensemble", "report"])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "fer2013",
                    help="fer2013 folder with index.csv, a Kaggle fer2013.csv, or an image folder")
    ap.add_argument("--ferplus", type=Path, help="fer2013new.csv for a Kaggle fer2013.csv")
    ap.add_argument("--labels", choices=["ferplus", "fer"], default="ferplus",
                    help="happy target: FER+ votes (happiness >= half the emotion votes) or original FER labels")
    ap.add_argument("--extra", type=Path, action="append", default=[],
                    help="extra image folder(s) (happy/ + not_happy/) added to the training pool")
    ap.add_argument("--work", type=Path, default=ROOT / "training" / "work", help="checkpoints and caches")
    ap.add_argument("--out", type=Path, default=ROOT / "models", help="where models, card and report go")
    ap.add_argument("--manifest", type=Path, help="where the test-set manifest goes (default: work/test_manifest.csv)")
    ap.add_argument("--width", default="auto", help="0.5, 1.0 or auto (from the compare stage)")
    ap.add_argument("--epochs", type=int, default=14, help="epochs of the final fit")
    ap.add_argument("--teacher-weight", type=float, default=0.0,
                    help="fit: distil the cross-validation folds' models into the final fit: this share of each soft "
                         "target is their mean P(happy) (face and mirror image), the rest the FER+ votes (0: votes only)")
    ap.add_argument("--cv-epochs", type=int, default=14, help="epochs per cross-validation fold")
    ap.add_argument("--ablate-epochs", type=int, default=7,
                    help="epochs per ablation run (the twice_the_epochs ablation runs 14, twice the default)")
    ap.add_argument("--compare-epochs", type=int, default=2, help="epochs per width in the compare stage")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--fold", type=int, default=0,
                    help="cv: train only fold N (1-based), so that folds can train side by side (each with --threads 1)")
    ap.add_argument("--limit", type=int, default=0, help="smoke test: use only this many images per split")
    ap.add_argument("--calibration", type=int, default=1024,
                    help="training faces used to calibrate int8 (onnxruntime keeps all their activations: "
                         "about 10 GB of memory at 1024)")
    ap.add_argument("--per-channel", action=argparse.BooleanOptionalAction, default=False,
                    help="int8 weights with one scale per output channel, or per tensor (default: tract fuses "
                         "the requantization into its product kernel only for per-tensor scales)")
    ap.add_argument("--depthwise-float", action=argparse.BooleanOptionalAction, default=True,
                    help="keep the depthwise convolutions float (default: tract runs quantized ones as one product "
                         "per group, slower than float)")
    ap.add_argument("--symmetric-activations", action=argparse.BooleanOptionalAction, default=True,
                    help="int8 activations with zero point 0 (default: no zero-point compensation ops)")
    ap.add_argument("--pointwise-one-row", action=argparse.BooleanOptionalAction, default=True,
                    help="give the int8 1x1 convolutions a one-row input, so that tract runs one product over all "
                         "positions (mkt/tractgraph.py; default: tract otherwise runs one product per row)")
    ap.add_argument("--relu6-saturation", action=argparse.BooleanOptionalAction, default=True,
                    help="the int8 expansions' ReLU6 by the int8 saturation (output zero point -128; mkt/tractgraph.py; "
                         "default: no Clip, and the positive half gets all 256 levels)")
    ap.add_argument("--depthwise-cast", action=argparse.BooleanOptionalAction, default=True,
                    help="quantize each float depthwise convolution's output by a Cast, its scale folded into the "
                         "convolution (mkt/tractgraph.py; default: tract's QuantizeLinear is a scalar loop)")
    ap.add_argument("--float-blocks", default="1,2,3,4,5,6,15,16,17,18",
                    help="MobileNetV2 feature blocks whose convolutions stay float in the int8 model (default: blocks "
                         "1-6, the 48x48 to 12x12 maps with 16-32 channels, where tract's float <-> int8 conversions "
                         "cost more than its integer products gain, and 15-18, the 3x3 maps, where its integer "
                         "products lose to its float ones; '' for none)")
    ap.add_argument("--from-fold", type=int, default=0,
                    help="export cross-validation fold N's model (trained on the other folds) instead of the final fit's")
    ap.add_argument("--tta", choices=["auto", "on", "off"], default="auto",
                    help="test-time flip averaging of photos (the exported model's metadata): as the calibrate stage decided, or forced")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    order = (["prepare", "compare", "calibrate", "fit", "export", "cv", "ablate", "ensemble", "report"]
             if args.stage == "all" else [args.stage])
    for st in order:
        print(f"== stage {st}", flush=True)
        t0 = time.time()
        getattr(stages, st)(args)
        took = time.time() - t0
        print(f"== stage {st} took {took / 60:.1f} min", flush=True)
        timing = args.work / "timing.json"
        done = json.loads(timing.read_text()) if timing.exists() else {}
        done[st] = round(took, 1)
        args.work.mkdir(parents=True, exist_ok=True)
        timing.write_text(json.dumps(done, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
