"""Charts, tables and the model card, all generated from the pipeline's JSON outputs."""

from __future__ import annotations

import json
import time
from argparse import Namespace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .stages import FP32, INT8, cv_runs  # noqa: E402


def _read(p: Path):
    return json.loads(p.read_text()) if p.exists() else None


def _pct(v: float) -> str:
    return f"{100 * v:.2f}"


def _confusion_ax(ax, cm, title):
    cm = np.array(cm)
    ax.imshow(cm, cmap="Blues")
    for i in range(2):
        for j in range(2):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color="black" if cm[i, j] < cm.max() / 2 else "white")
    ax.set_xticks([0, 1], ["not_happy", "happy"])
    ax.set_yticks([0, 1], ["not_happy", "happy"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)


def write_report(args: Namespace, platform: str) -> None:
    out = args.out / "report"
    out.mkdir(parents=True, exist_ok=True)
    prep = _read(args.work / "prepare.json") or {}
    comp = _read(args.work / "compare.json")
    exp = _read(args.work / "export.json")
    fit = _read(args.work / "fit" / "summary.json")
    built = _read(args.work / "export_fp32.json") or {}
    if built.get("from_fold"):
        # The shipped model is a cross-validation fold's (export --from-fold): its settings and curve.
        f = _read(args.work / "cv" / f"fold{built['from_fold'] - 1}" / "metrics.json") or {}
        n = prep.get("train_pool", {}).get("n", 0) - f.get("val", {}).get("n", 0)
        fit = {"config": f.get("config", {}), "history": f.get("history", []), "from_fold": built["from_fold"],
               "train_images": n}
    folds = [_read(args.work / "cv" / f"fold{f}" / "metrics.json") for f in range(args.folds)]
    folds = [f for f in folds if f]
    cal = _read(args.work / "calibration.json")
    from .stages import ABLATIONS

    ablations = {n: _read(args.work / "ablate" / n / "metrics.json") for n in ABLATIONS}
    ablations = {n: a for n, a in ablations.items() if a}

    # Per-fold confusion matrices.
    if folds:
        fig, axes = plt.subplots(1, len(folds), figsize=(3.2 * len(folds), 3.2))
        axes = np.atleast_1d(axes)
        for ax, f in zip(axes, folds):
            _confusion_ax(ax, f["val"]["confusion"], f"fold {f['fold'] + 1}")
        fig.tight_layout()
        fig.savefig(out / "cv_confusion.png", dpi=110)
        plt.close(fig)
        # Per-fold precision / recall / F1 per class, and accuracy.
        fig, ax = plt.subplots(figsize=(10, 4))
        names = [("accuracy", None), ("precision", "happy"), ("recall", "happy"), ("f1", "happy"),
                 ("precision", "not_happy"), ("recall", "not_happy"), ("f1", "not_happy")]
        x = np.arange(len(folds))
        width = 0.8 / len(names)
        for k, (m, c) in enumerate(names):
            vals = [f["val"][m] if c is None else f["val"][c][m] for f in folds]
            ax.bar(x + k * width, vals, width, label=m if c is None else f"{m} {c}")
        ax.set_xticks(x + 0.4 - width / 2, [f"fold {f['fold'] + 1}" for f in folds])
        ax.set_ylim(0.8, 1.0)
        ax.set_ylabel("validation score")
        ax.legend(ncol=4, fontsize=8, loc="lower center")
        ax.set_title("5-fold cross-validation: per-fold metrics")
        fig.tight_layout()
        fig.savefig(out / "cv_metrics.png", dpi=110)
        plt.close(fig)
    # Training curves (folds carried over from an earlier report have no history).
    def curve(h):  # per-epoch losses (a history carried over without them draws nothing)
        return bool(h) and all("train_loss" in r for r in h)

    if any(curve(f.get("history")) for f in folds) or (fit and curve(fit.get("history"))):
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
        for f in (f for f in folds if curve(f.get("history"))):
            h = f["history"]
            ep = [r["epoch"] for r in h]
            a1.plot(ep, [r["train_loss"] for r in h], "--", label=f"fold {f['fold'] + 1} train")
            a1.plot(ep, [r["val_loss"] for r in h], "-", label=f"fold {f['fold'] + 1} val")
            a2.plot(ep, [r["val_acc"] for r in h], "-o", label=f"fold {f['fold'] + 1}")
        if fit and not fit.get("from_fold") and curve(fit.get("history")):
            h = fit["history"]
            a1.plot([r["epoch"] for r in h], [r["train_loss"] for r in h], "k:", label="final fit train")
        a1.set_xlabel("epoch")
        a1.set_ylabel("loss (train: weighted, smoothed)")
        a1.legend(fontsize=7)
        a2.set_xlabel("epoch")
        a2.set_ylabel("validation accuracy")
        a2.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "training_curves.png", dpi=110)
        plt.close(fig)
    if cal:
        fig, ax = plt.subplots(figsize=(4.6, 4.4))
        ax.plot([0, 1], [0, 1], "k:", label="perfect calibration")
        for key, name in (("reliability_before", f"before (ECE {cal['ece_before']:.3f})"),
                          ("reliability_after", f"T = {cal['temperature']:.2f} (ECE {cal['ece_after']:.3f})")):
            b = [r for r in cal.get(key) or [] if r["n"]]
            ax.plot([r["mean_p_happy"] for r in b], [r["happy_rate"] for r in b], "-o", ms=3, label=name)
        if exp and exp.get("test_reliability_fp32"):
            b = [r for r in exp["test_reliability_fp32"] if r["n"]]
            ax.plot([r["mean_p_happy"] for r in b], [r["happy_rate"] for r in b], "-s", ms=3,
                    label=f"test, shipped fp32 (ECE {exp['test_ece_fp32']:.3f})")
        ax.set_xlabel("mean P(happy) in bin (15 bins)")
        ax.set_ylabel("observed happy rate")
        ax.set_title("Reliability of P(happy), out of fold")
        ax.legend(fontsize=7, loc="upper left")
        fig.tight_layout()
        fig.savefig(out / "reliability.png", dpi=110)
        plt.close(fig)
    if exp:
        fig, axes = plt.subplots(1, 2, figsize=(6.6, 3.2))
        _confusion_ax(axes[0], exp["test_fp32"]["confusion"], "test fp32")
        _confusion_ax(axes[1], exp["test_int8"]["confusion"], "test int8")
        fig.tight_layout()
        fig.savefig(out / "test_confusion.png", dpi=110)
        plt.close(fig)

    lines = ["# Model factory report", "",
             "Generated by `training/run.sh report` from the pipeline's outputs; do not edit by hand.", ""]
    lines += ["## Data", "", f"Source `{Path(prep.get('source', '?')).name}`, labels: **{prep.get('labels', '?')}** "
              "(FER+: happy when happiness votes >= half of the emotion votes).", ""]
    if prep:
        lines += ["| rule | rows removed |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in prep.get("removed_rows", {}).items()]
        tp, te = prep["train_pool"], prep["test"]
        lines += ["", f"Training pool (Training + PublicTest): {tp['n']} images, {tp['happy']} happy. "
                  f"Test: {te['split']} minus {te['removed_duplicates_of_training']} images whose duplicate group "
                  f"occurs in the training pool: {te['n']} images, {te['happy']} happy.", ""]
    if comp:
        lines += ["## Width comparison (fold 1, same epochs)", "", "| width | epochs | val accuracy | val balanced accuracy | train images/s | parameters |",
                  "|---|---|---|---|---|---|"]
        for w in ("0.5", "1.0"):
            c = comp[w]
            lines.append(f"| {w} | {c['epochs']} | {_pct(c['val_accuracy'])} | {_pct(c['val_balanced_accuracy'])} | "
                         f"{c['train_images_per_s']:.0f} | {c['params']:,} |")
        lines += ["", f"Rule: {comp['rule']}. Chosen: **{comp['chosen']}**.", ""]
    # Fold 1 trained at two widths with the same epochs (the calibration fold at the shipped
    # model's width, the ablations' recipe run at theirs): a longer width comparison than compare's.
    f1 = next((f for f in folds if f["fold"] == 0), None)
    rec = ablations.get("recipe")
    w1 = ((f1 or {}).get("config") or {}).get("width")
    w2 = ((rec or {}).get("config") or {}).get("width")
    if f1 and rec and w1 is not None and w2 is not None and w1 != w2 and \
            f1["config"].get("epochs") == rec["config"].get("epochs"):
        lines += [f"## Width on fold 1 ({rec['config']['epochs']} epochs each)", "",
                  "| width | run | val accuracy | val balanced acc. | with flip averaging: balanced acc. |", "|---|---|---|---|---|"]
        for w, name, r in sorted([(w1, "cross-validation fold 1", f1), (w2, "the ablations' recipe run", rec)]):
            t = r.get("val_flip_averaged") or {}
            lines.append(f"| {w} | {name} | {_pct(r['val']['accuracy'])} | {_pct(r['val']['balanced_accuracy'])} | "
                         f"{_pct(t['balanced_accuracy']) if t else '-'} |")
        lines.append("")
    if folds:
        lines += ["## 5-fold cross-validation", "", "Stratified, grouped by duplicate group; validation folds never see augmentation.", "",
                  "| fold | width | epochs | n | accuracy | balanced acc. | P happy | R happy | F1 happy | P not_happy | R not_happy | F1 not_happy |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]

        def row(v):
            return [v["accuracy"], v["balanced_accuracy"], v["happy"]["precision"], v["happy"]["recall"], v["happy"]["f1"],
                    v["not_happy"]["precision"], v["not_happy"]["recall"], v["not_happy"]["f1"]]
        by_recipe: dict = {}
        for label, w, epochs, v in cv_runs(folds, ablations):
            by_recipe.setdefault((w, epochs), []).append(row(v))
            lines.append(f"| {label} | {w if w is not None else '?'} | {epochs or '?'} | {v['n']} | "
                         + " | ".join(_pct(x) for x in row(v)) + " |")
        for (w, epochs), rows in by_recipe.items():
            a = np.array(rows)
            label = (f"**mean ± std, width {w}, {epochs or '?'} epochs** ({len(rows)} fold{'s' if len(rows) != 1 else ''})"
                     if len(by_recipe) > 1 else "**mean ± std**")
            lines.append(f"| {label} | | | | " + " | ".join(f"**{_pct(m)} ± {_pct(s)}**" for m, s in zip(a.mean(0), a.std(0))) + " |")
        if len(by_recipe) > 1:
            lines += ["", "The folds differ in width or epochs (an earlier recipe's folds, kept until the current "
                      "recipe has trained them again: `training/run.sh cv` trains each fold whose settings differ); "
                      "each mean is over its own folds."]
        averaged = [f for f in folds if (f.get("history") or [{}])[-1].get("raw_val_acc") is not None]
        if averaged:
            lines += ["", "Weight averaging (each fold's own run: the exponential moving average of the weights, "
                      "which is what the fold reports and the export ships, against the plain weights of the same last step):", "",
                      "| fold | epochs | plain weights: accuracy | balanced acc. | val loss | averaged: accuracy | balanced acc. | val loss |",
                      "|---|---|---|---|---|---|---|---|"]
            for f in averaged:
                h = f["history"][-1]
                lines.append(f"| {f['fold'] + 1} | {h['epoch']} | {_pct(h['raw_val_acc'])} | {_pct(h['raw_val_bal_acc'])} | "
                             f"{h['raw_val_loss']:.4f} | {_pct(h['val_acc'])} | {_pct(h['val_bal_acc'])} | {h['val_loss']:.4f} |")
        lines += ["", "![per-fold metrics](cv_metrics.png)", "", "![per-fold confusion](cv_confusion.png)", "",
                  "![training curves](training_curves.png)", ""]
        if len(folds) < args.folds:
            lines += [f"Only {len(folds)} of {args.folds} folds are finished; rerun `training/run.sh cv` to resume.", ""]
    if ablations.get("recipe"):
        lines += ["## Ablations (fold 1; every run with the same width and seed, the same epochs unless changed)", "",
                  "Each row changes one choice of the recipe (undoes it, or doubles the epochs); the first row is the recipe itself.", "",
                  "| run | width | val accuracy | val balanced acc. | with flip averaging: balanced acc. | last epoch val loss |",
                  "|---|---|---|---|---|---|"]
        for name, a in ablations.items():
            v, t = a["val"], a.get("val_flip_averaged") or {}
            vl = a["history"][-1].get("val_loss") if a.get("history") else None
            change = f" (`{json.dumps(a['change'])}`)" if a.get("change") else ""
            lines.append(f"| {name}{change} | {(a.get('config') or {}).get('width', '?')} | {_pct(v['accuracy'])} | {_pct(v['balanced_accuracy'])} | "
                         f"{_pct(t['balanced_accuracy']) if t else '-'} | "
                         f"{f'{vl:.4f}' if vl is not None else '- (not kept)'} |")
        lines.append("")
    if cal:
        t = cal["tta"]
        lines += [f"## Calibration and flip averaging of photos (out-of-fold predictions of fold {cal.get('fold', 1)})", "",
                  f"{cal['out_of_fold_images']} validation images of fold {cal.get('fold', 1)} (the model trained on the other {args.folds - 1} folds). Balanced accuracy {_pct(t['plain']['balanced_accuracy'])}% "
                  f"alone (calibrated as below), {_pct(t['flip_averaged']['balanced_accuracy'])}% averaged with the mirror image "
                  f"({t['balanced_accuracy_gain'] * 100:+.2f} points); rule: {t['rule']}; adopted: **{t['adopted']}**.", "",
                  f"Temperature fitted on them (negative log-likelihood): **T = {cal['temperature']:.3f}**; "
                  f"expected calibration error of P(happy), 15 bins: {cal['ece_before']:.4f} before, {cal['ece_after']:.4f} after. "
                  "The export stage divides the logits by T inside the graph; the mirror image is the daemon's second run "
                  "for photos when adopted (the model's metadata `moodkiosk.photo_views`), never for camera frames.", "",
                  "![reliability diagram](reliability.png)", ""]
        if cal.get("happy_bias"):
            hb = cal["happy_bias"]
            lines += [f"Shift of the happy logit after T ({hb['rule']}): **{hb['value']:.2f}** (balanced accuracy "
                      f"{_pct(hb['chosen']['balanced_accuracy'])}%, accuracy {_pct(hb['chosen']['accuracy'])}%, ECE "
                      f"{hb['ece_final']:.4f}; without it {_pct(hb['tried'][0]['balanced_accuracy'])}%, "
                      f"{_pct(hb['tried'][0]['accuracy'])}%, {hb['tried'][0]['ece']:.4f}). The export builds it in.", ""]
        if cal.get("confidence_bands"):
            mc = cal["min_confidence"]
            lines += ["Votes by confidence (max(P(happy), 1 - P(happy)), calibrated, the same validation faces): "
                      "the daemon counts a frame's mood as a vote from `steady.min_confidence`.", "",
                      "| confidence | faces | share | right | share at or above |", "|---|---|---|---|---|"]
            lines += [f"| {r['lo']:.2f}-{r['hi']:.2f} | {r['n']} | {_pct(r['share'])}% | "
                      f"{'-' if r['right'] is None else _pct(r['right']) + '%'} | {_pct(r['share_at_or_above'])}% |"
                      for r in cal["confidence_bands"]]
            lines += ["", f"Rule: {mc['rule']}: **steady.min_confidence = {mc['value']:.2f}**.", ""]
    if exp:
        lines += ["## Held-out test (onnxruntime)", "", "| model | accuracy | balanced acc. | F1 happy | F1 not_happy |", "|---|---|---|---|---|"]
        rows = [("test_fp32", FP32), ("test_int8", INT8)]
        if exp.get("photo_views") == 2:
            rows += [("test_photo_fp32", f"{FP32}, face + mirror"), ("test_photo_int8", f"{INT8}, face + mirror")]
        for k, name in rows:
            v = exp[k]
            lines.append(f"| {name} | {_pct(v['accuracy'])} | {_pct(v['balanced_accuracy'])} | {_pct(v['happy']['f1'])} | {_pct(v['not_happy']['f1'])} |")
        lines += ["", f"int8 and fp32 give the same label on {_pct(exp['int8_fp32_label_agreement'])}% of test images"
                  + (f" ({_pct(exp['int8_fp32_label_agreement_photo'])}% with the mirror image averaged in)"
                     if exp.get("photo_views") == 2 else "") + "; "
                  f"int8 calibrated on {exp['calibration_images']} training faces.", ""]
        if exp.get("test_ece_fp32") is not None:
            lines += [f"Expected calibration error on the test set (15 bins): fp32 {exp['test_ece_fp32']:.4f}, "
                      f"int8 {exp['test_ece_int8']:.4f}.", ""]
        lines += ["![test confusion](test_confusion.png)", ""]
    ens = _read(args.work / "ensemble.json")
    if ens:
        lines += ["## The fold models on the test set: how far the recipe reaches when networks vote", "",
                  f"Each cross-validation fold's model (trained on the other {args.folds - 1} folds) on the "
                  f"{ens['test_images']} test images (PyTorch fp32, the calibration's T = {ens['temperature']:.3f} and "
                  f"happy shift {ens['happy_bias']:.2f} as the export builds them in), and the mean of their P(happy). "
                  "A ceiling for one network of the recipe, not a candidate: the mean of N networks costs N runs per "
                  "face (`training/run.sh ensemble`).", "",
                  "| model | runs per face | accuracy | balanced acc. | ECE | with the mirror image: accuracy | balanced acc. | ECE |",
                  "|---|---|---|---|---|---|---|---|"]

        def cells(r):
            a, b = r["one_run"], r["with_mirror"]
            return (f"{_pct(a['accuracy'])} | {_pct(a['balanced_accuracy'])} | {a['ece']:.4f} | "
                    f"{_pct(b['accuracy'])} | {_pct(b['balanced_accuracy'])} | {b['ece']:.4f}")
        for r in ens["folds"]:
            c = r.get("config") or {}
            lines.append(f"| fold {r['fold']} (width {c.get('width', '?')}, {c.get('epochs', '?')} epochs) | 1 | {cells(r)} |")
        n = ens["runs_per_face"]["one_run"]
        lines += [f"| **mean of the {n} folds' P(happy)** | {n} | {cells(ens['mean'])} |", ""]
        if exp:
            lines += [f"The shipped fp32 on the same images (onnxruntime, one run): {_pct(exp['test_fp32']['accuracy'])}% / "
                      f"{_pct(exp['test_fp32']['balanced_accuracy'])}% balanced.", ""]
    if fit:
        secs = ", ".join("%.0f" % r["seconds"] for r in fit["history"])
        title = (f"## Shipped model: cross-validation fold {fit['from_fold']}'s (trained on the other folds)"
                 if fit.get("from_fold") else "## Final fit")
        lines += [title, "", f"Settings: `{json.dumps(fit['config'])}`", "", f"Seconds per epoch: {secs}.", ""]
    parts = [(f"fold {f['fold'] + 1}", f) for f in folds] + [("the calibration", cal or {}),
                                                             ("the final fit's settings and history", fit or {}),
                                                             ("the export's graph settings", built),
                                                             ("the fold models' test scores", ens or {})] + [
        (f"ablation {n}", a) for n, a in ablations.items()]
    carried = sorted({x.get("carried") for _, x in parts if x.get("carried")})
    if carried:
        lines += [f"Carried over from {', '.join(carried)} (an earlier run's report; its work folder is gone): "
                  + ", ".join(name for name, x in parts if x.get("carried")) + ".", ""]
    lines += [f"Platform: {platform}; report written {time.strftime('%Y-%m-%d %H:%M %Z')}.", ""]
    (out / "README.md").write_text("\n".join(lines))
    _json_summary = {"prepare": prep, "compare": comp, "export": exp,
                     # Everything the report and card are made of, so that they can be rebuilt from this
                     # file when the work folder is gone (training/mkt/stages.py: carry_over).
                     "cv": [{k: f.get(k) for k in ("fold", "val", "val_flip_averaged", "config", "history", "carried")
                             if f.get(k) is not None} for f in folds],
                     "calibration": cal or {},
                     "fit": fit or {}, "built": built, "ensemble": ens or {},
                     "ablations": {n: {k: a.get(k) for k in ("ablation", "change", "config", "val", "val_flip_averaged",
                                                             "history", "from", "carried") if a.get(k) is not None}
                                   for n, a in ablations.items()}}
    (out / "metrics.json").write_text(json.dumps(_json_summary, indent=1))
    from .card import write_card

    write_card(args, prep, comp, exp, fit, folds, cal, ablations)
    print(f"report written to {out}", flush=True)
