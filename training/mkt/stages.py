"""The pipeline stages. Every number in models/report and models/MODEL_CARD.md is written here."""

from __future__ import annotations

import hashlib
import json
import platform
import time
from argparse import Namespace
from pathlib import Path

import numpy as np
import torch

from . import data, preprocess
from .model import Exported, MoodNet
from .preprocess import PHOTO_VIEWS_KEY
from .train import (TrainConfig, ece, fit as train_fit, fit_temperature, logits_of, metrics, predict,
                    probs_from_logits, same_config)

FP32 = "moodkiosk-fp32.onnx"
INT8 = "moodkiosk-int8.onnx"


def _load(args: Namespace) -> dict:
    path = args.work / "data.npz"
    if not path.exists():
        raise SystemExit(f"{path} missing: run the prepare stage first")
    z = np.load(path)
    return {k: z[k] for k in z.files}


def _json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1))


def prepare(args: Namespace) -> None:
    t0 = time.time()
    ds = data.load(args.data, args.labels, args.ferplus)
    images, target, usage, group, ids = ds.images, ds.target, ds.usage, ds.group, ds.ids
    soft = ds.soft_target()
    for i, extra in enumerate(args.extra):
        ex = data.load_image_folder(extra)
        images = np.concatenate([images, ex.images])
        target = np.concatenate([target, ex.target])
        soft = np.concatenate([soft, ex.soft_target()])
        usage = np.concatenate([usage, np.where(ex.usage == "PrivateTest", "PrivateTest", "Training")])
        group = np.concatenate([group, ex.group + 20_000_000 * (i + 1)])
        ids = np.concatenate([ids, np.array([f"{extra}/{p}" for p in ex.ids])])
    if args.limit:
        rng = np.random.default_rng(0)
        keep = np.zeros(len(target), dtype=bool)
        for u in np.unique(usage):
            idx = np.flatnonzero(usage == u)
            keep[rng.choice(idx, min(args.limit, len(idx)), replace=False)] = True
        images, target, usage, group, ids = images[keep], target[keep], usage[keep], group[keep], ids[keep]
        soft = soft[keep]
    sub = data.Dataset(images, target, usage, group, ids, soft=soft)
    train_mask, test_mask, leaked = data.test_mask(sub)
    folds = data.stratified_group_folds(target[train_mask], group[train_mask], args.folds)
    args.work.mkdir(parents=True, exist_ok=True)
    np.savez(
        args.work / "data.npz",
        x_train=images[train_mask], y_train=target[train_mask], s_train=soft[train_mask],
        g_train=group[train_mask], folds=folds,
        x_test=images[test_mask], y_test=target[test_mask], s_test=soft[test_mask], ids_test=ids[test_mask],
    )
    meta = {
        "source": str(args.data), "labels": ds.labels, "extra": [str(e) for e in args.extra],
        "removed_rows": ds.removed, "limit": args.limit,
        "train_pool": {"n": int(train_mask.sum()), "happy": int(target[train_mask].sum())},
        "test": {"split": "PrivateTest", "n": int(test_mask.sum()), "happy": int(target[test_mask].sum()),
                 "removed_duplicates_of_training": leaked},
        "folds": [{"n": int((folds == f).sum()), "happy": int(target[train_mask][folds == f].sum())}
                  for f in range(args.folds)],
    }
    _json(args.work / "prepare.json", meta)
    if source_is_fer_dir(args.data) and not args.extra and not args.limit:
        data.write_manifest(args.manifest or args.work / "test_manifest.csv", args.data,
                            ids[test_mask], target[test_mask], group[test_mask])
    print(json.dumps(meta, indent=1))
    print(f"prepare took {time.time() - t0:.0f} s", flush=True)


def source_is_fer_dir(src: Path) -> bool:
    return Path(src).is_dir() and (Path(src) / "index.csv").exists()


def manifest(args: Namespace) -> None:
    """The de-duplicated test set as a manifest (``moodkiosk eval --manifest``), from index.csv
    alone (no pixels read): the same rows, labels and groups as the prepare stage."""
    if not source_is_fer_dir(args.data):
        raise SystemExit(f"manifest needs the fer2013 folder with index.csv, got {args.data}")
    keep, _ = data.select_fer_rows(args.data, args.labels)
    usage = np.array([r["usage"] for r, _ in keep])
    group = data.fer_groups(keep)
    target = np.array([y for _, y in keep], dtype=np.int64)
    ids = np.array([r["path"] for r, _ in keep])
    _, test, leaked = data.test_mask_of(usage, group)
    out = args.manifest or args.work / "test_manifest.csv"
    n = data.write_manifest(out, args.data, ids[test], target[test], group[test])
    print(f"{out}: {n} test images ({leaked} duplicates of training left out)", flush=True)


def _fold_split(d: dict, f: int):
    tr = d["folds"] != f
    return d["x_train"][tr], d["y_train"][tr], d["x_train"][~tr], d["y_train"][~tr]


def _soft(d: dict, mask=None):
    """The training pool's FER+ vote fractions (the hard targets for a data.npz made before)."""
    s = d.get("s_train")
    s = d["y_train"].astype(np.float32) if s is None else s
    return s if mask is None else s[mask]


def compare(args: Namespace) -> None:
    out = args.work / "compare.json"
    if out.exists():
        print(f"{out} exists, skipping", flush=True)
        return
    d = _load(args)
    xtr, ytr, xva, yva = _fold_split(d, 0)
    res = {}
    for width in (0.5, 1.0):
        cfg = TrainConfig(width=width, epochs=args.compare_epochs)
        t0 = time.time()
        model, hist = train_fit(cfg, xtr, ytr, args.work / "compare" / f"w{width}", xva, yva, f"compare w{width}",
                                s_train=_soft(d, d["folds"] != 0))
        m = metrics(yva, predict(model, xva))
        res[str(width)] = {"epochs": cfg.epochs, "val_accuracy": m["accuracy"],
                           "val_balanced_accuracy": m["balanced_accuracy"],
                           "train_seconds": sum(h["seconds"] for h in hist),
                           "train_images_per_s": len(xtr) * cfg.epochs / max(sum(h["seconds"] for h in hist), 1e-9),
                           "params": sum(p.numel() for p in model.parameters())}
    gain = res["1.0"]["val_accuracy"] - res["0.5"]["val_accuracy"]
    res["rule"] = "width 1.0 only if it beats 0.5 by >= 0.5 accuracy points on fold 1 (it costs about 2x the compute)"
    res["chosen"] = 1.0 if gain >= 0.005 else 0.5
    _json(out, res)
    print(json.dumps(res, indent=1), flush=True)


def _width(args: Namespace) -> float:
    if args.width != "auto":
        return float(args.width)
    p = args.work / "compare.json"
    return float(json.loads(p.read_text())["chosen"]) if p.exists() else 0.5


def fit(args: Namespace) -> None:
    d = _load(args)
    w = float(getattr(args, "teacher_weight", 0.0))
    if not (0.0 <= w <= 1.0):
        raise SystemExit(f"--teacher-weight {w}: give a share from 0 to 1")
    cfg = TrainConfig(width=_width(args), epochs=args.epochs, teacher_weight=w)
    t0 = time.time()
    targets, teacher = _soft(d), None
    if w > 0:
        teacher = _teacher(args, d["x_train"])
        targets = ((1 - w) * targets + w * teacher["p_happy"]).astype(np.float32)
    model, hist = train_fit(cfg, d["x_train"], d["y_train"], args.work / "fit", label="fit", s_train=targets)
    torch.save({"width": cfg.width, "state": model.state_dict()}, args.work / "fit" / "model.pt")
    _json(args.work / "fit" / "summary.json", {"config": cfg.__dict__, "history": hist,
                                               "wall_seconds_this_run": time.time() - t0,
                                               **({"teacher": {k: v for k, v in teacher.items() if k != "p_happy"}}
                                                  if teacher else {})})


def _saved_model(path: Path) -> MoodNet:
    """A model saved by the cv or fit stage ({"width", "state"}), in eval mode."""
    st = torch.load(path, map_location="cpu", weights_only=True)
    model = MoodNet(st["width"])
    model.load_state_dict(st["state"])
    return model.eval()


def _fold_models(args: Namespace) -> list[tuple[int, Path]]:
    """The cross-validation folds whose models are in the work folder: (fold, 1-based; model.pt)."""
    paths = [(f + 1, args.work / "cv" / f"fold{f}" / "model.pt") for f in range(args.folds)]
    return [(f, p) for f, p in paths if p.exists()]


def _teacher(args: Namespace, x: np.ndarray) -> dict:
    """The distillation teacher's P(happy) of every training image: the mean over the
    cross-validation folds' models (work/cv/fold*/model.pt) of the face's and its mirror image's
    softmax, uncalibrated (the targets are votes' shares; the export builds in the calibrate
    stage's temperature and shift as for any final fit). Cached in work/teacher.npz for the same
    model files."""
    folds = _fold_models(args)
    if not folds:
        raise SystemExit(f"--teacher-weight needs cross-validation models in {args.work / 'cv'}: run the cv stage first")
    key = [f"fold {f}:{_sha256(p)}" for f, p in folds]
    cache = args.work / "teacher.npz"
    if cache.exists():
        z = np.load(cache)
        if list(z["models"]) == key and len(z["p_happy"]) == len(x):
            return {"models": key, "p_happy": z["p_happy"]}
    t0, ps = time.time(), []
    for f, p in folds:
        model = _saved_model(p).to(memory_format=torch.channels_last)
        ps.append((probs_from_logits(logits_of(model, x)) + probs_from_logits(logits_of(model, x, flip=True))) / 2)
        print(f"teacher: fold {f} done ({time.time() - t0:.0f} s)", flush=True)
    p_happy = np.mean(ps, 0).astype(np.float32)
    np.savez(cache, models=np.array(key), p_happy=p_happy)
    return {"models": key, "p_happy": p_happy}


def _fit_model(args: Namespace) -> MoodNet:
    """The model to export: the final fit's, or with --from-fold N cross-validation fold N's."""
    fold = getattr(args, "from_fold", 0)
    p = args.work / "cv" / f"fold{fold - 1}" / "model.pt" if fold else args.work / "fit" / "model.pt"
    if not p.exists():
        raise SystemExit(f"{p} missing: run the {'cv' if fold else 'fit'} stage first")
    return _saved_model(p)


class _Calib:
    def __init__(self, x: np.ndarray):
        self.it = iter(x[:, None, None].astype(np.float32))

    def get_next(self):
        v = next(self.it, None)
        return None if v is None else {"input": v}


def _ort_probs(path: Path, x: np.ndarray) -> np.ndarray:
    """P(happy) of every image through onnxruntime."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return np.array([s.run(["probs"], {"input": np.ascontiguousarray(xi)[None, None]})[0][0, 1] for xi in x],
                    dtype=np.float32)


def _set_photo_views(path: Path, views: int) -> None:
    """Write PHOTO_VIEWS_KEY into the model file's metadata."""
    import onnx

    m = onnx.load(str(path))
    kept = [p for p in m.metadata_props if p.key != PHOTO_VIEWS_KEY]
    del m.metadata_props[:]
    m.metadata_props.extend(kept)
    e = m.metadata_props.add()
    e.key, e.value = PHOTO_VIEWS_KEY, str(views)
    onnx.save(m, str(path))


def _photo_views(path: Path) -> int:
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    return int(next((p.value for p in m.metadata_props if p.key == PHOTO_VIEWS_KEY), "1"))


def carry_over(args: Namespace) -> list[str]:
    """Restore the calibration, the cross-validation folds' and ablations' results, the final fit's settings and
    history and the export's graph settings from the committed report
    (`models/report/metrics.json`) when the work folder lacks them (a new machine: the work folder
    is not committed), so that a model exported from a new final fit keeps the calibration it was
    fitted for and the report and card keep the rest; each restored file says so ("carried").
    Returns the files written."""
    committed = _read_json(args.out / "report" / "metrics.json") or {}
    origin = f"{args.out.name}/report/metrics.json"  # as the committed tree names it
    written = []
    cal = args.work / "calibration.json"
    if not cal.exists() and committed.get("calibration"):
        _json(cal, {**committed["calibration"], "carried": origin})
        written.append(str(cal))
    for f in committed.get("cv") or []:
        p = args.work / "cv" / f"fold{f['fold']}" / "metrics.json"
        if not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
            # Reports before this one kept neither a fold's settings nor its history.
            config = f.get("config") or {"note": "not in the report it was carried from"}
            _json(p, {**f, "config": config, "carried": f.get("carried") or origin})
            written.append(str(p))
    for name, a in (committed.get("ablations") or {}).items():
        p = args.work / "ablate" / name / "metrics.json"
        if not p.exists() and a.get("val"):
            p.parent.mkdir(parents=True, exist_ok=True)
            _json(p, {"ablation": name, **a, "carried": a.get("carried") or origin})
            written.append(str(p))
    # The export's test results, when they describe the model files in the output folder now
    # (same sha256): the report and card keep the shipped models' test tables and checksums.
    exp = committed.get("export") or {}
    p = args.work / "export.json"
    if not p.exists() and exp.get("files") and all(
            (args.out / name).exists() and _sha256(args.out / name) == f.get("sha256")
            for name, f in exp["files"].items()):
        _json(p, {**exp, "carried": exp.get("carried") or origin})
        written.append(str(p))
    # The final fit's settings and history, what the export stage built into the graph, and the
    # fold models' test scores (the ensemble stage).
    for name, path in (("fit", args.work / "fit" / "summary.json"), ("built", args.work / "export_fp32.json"),
                       ("ensemble", args.work / "ensemble.json")):
        if not path.exists() and committed.get(name):
            _json(path, {**committed[name], "carried": committed[name].get("carried") or origin})
            written.append(str(path))
    for w in written:
        print(f"carried over from {origin}: {w}", flush=True)
    return written


def export(args: Namespace) -> None:
    """The fitted model to ONNX fp32 (one face per run; the photo views in its metadata), then
    the quantize stage."""
    model = _fit_model(args)
    carry_over(args)
    args.out.mkdir(parents=True, exist_ok=True)
    fp32 = args.out / FP32
    cal = _read_json(args.work / "calibration.json") or {}
    temperature = float(cal.get("temperature", 1.0))
    tta = {"on": True, "off": False}.get(getattr(args, "tta", "auto"), bool(cal.get("tta", {}).get("adopted", False)))
    happy_bias = float(cal.get("happy_bias", {}).get("value", 0.0))
    exported = Exported(model, temperature=temperature, happy_bias=happy_bias).eval()
    dummy = torch.zeros(1, 1, preprocess.SIZE, preprocess.SIZE)
    torch.onnx.export(exported, (dummy,), str(fp32), opset_version=13, input_names=["input"],
                      output_names=["probs"], dynamo=False)
    _set_photo_views(fp32, 2 if tta else 1)
    d = _load(args)
    with torch.no_grad():
        torch_p = np.concatenate([exported(torch.from_numpy(d["x_test"][i:i + 1]).unsqueeze(1))[:, 1].numpy()
                                  for i in range(len(d["x_test"]))]) if len(d["x_test"]) else np.zeros(0)
    p32 = _ort_probs(fp32, d["x_test"])
    _json(args.work / "export_fp32.json", {
        "max_abs_torch_vs_onnx_fp32": float(np.abs(torch_p - p32).max()) if len(p32) else 0.0,
        "temperature": temperature, "photo_views": 2 if tta else 1, "happy_bias": happy_bias,
        "from_fold": getattr(args, "from_fold", 0)})
    quantize(args)


def quantize(args: Namespace) -> None:
    """models/moodkiosk-fp32.onnx -> models/moodkiosk-int8.onnx, scored against fp32 on the test set.

    QOperator format (QLinearConv with int8 weights and activations), because that is what tract
    runs with integer matrix kernels: it turns QLinearConv into i8 x i8 -> i32 products
    (arm64simd_mmm_i32_8x8, and the SDOT kernel on Cortex-A76 / Pi 5), and its results are exact
    integers, identical on x86 and arm64. tract runs the QDQ format's convolutions in float
    instead, with quantize / dequantize steps around them (slower than fp32, and sensitive to
    the last bit of float sums). Only Conv and its ReLU6 are quantized: the residual Add and the
    global average pool would become QLinearAdd / QLinearGlobalAveragePool, onnxruntime-only
    operators tract cannot load, so they stay float between DequantizeLinear and QuantizeLinear.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    d = _load(args)
    fp32 = args.out / FP32
    int8 = args.out / INT8
    if not fp32.exists():
        raise SystemExit(f"{fp32} missing: run the export stage first")
    pre = args.work / "fp32-pre.onnx"
    pre.parent.mkdir(parents=True, exist_ok=True)
    quant_pre_process(str(fp32), str(pre))
    rng = np.random.default_rng(1)
    n_cal = min(args.calibration, len(d["x_train"]))
    cal = d["x_train"][rng.choice(len(d["x_train"]), n_cal, replace=False)]
    # The stem convolution (raw pixels) and the small dense head stay float: quantizing them
    # costs the most agreement with fp32 for the least compute. The softmax stays float too.
    graph = onnx.load(str(pre)).graph
    keep_float = [n.name for n in graph.node if n.op_type in ("Gemm", "MatMul")]
    keep_float += [n.name for n in graph.node if n.op_type == "Conv"][:1]
    keep_float += [n.name for n in graph.node if n.op_type == "Softmax"]
    if getattr(args, "depthwise_float", False):
        keep_float += [n.name for n in graph.node if n.op_type == "Conv" and
                       any(a.name == "group" and a.i > 1 for a in n.attribute)]
    blocks = [b for b in str(getattr(args, "float_blocks", "") or "").split(",") if b.strip()]
    keep_float += [n.name for n in graph.node if n.op_type == "Conv" and
                   any(f"/features.{b.strip()}/" in n.name for b in blocks)]
    symmetric = bool(getattr(args, "symmetric_activations", False))
    quantize_static(str(pre), str(int8), _Calib(cal), quant_format=QuantFormat.QOperator,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=args.per_channel,
                    calibrate_method=CalibrationMethod.Percentile, nodes_to_exclude=keep_float,
                    op_types_to_quantize=["Conv", "Clip", "Relu"],
                    extra_options={"CalibPercentile": 99.99, "ActivationSymmetric": symmetric})
    one_row = 0
    if getattr(args, "pointwise_one_row", False):
        from .tractgraph import pointwise_one_row

        if not symmetric:
            raise SystemExit("--pointwise-one-row needs symmetric activations (zero points 0)")
        one_row = pointwise_one_row(int8, int8)
    saturated = 0
    if getattr(args, "relu6_saturation", False):
        from .tractgraph import relu6_as_saturation

        saturated = relu6_as_saturation(int8, int8)
    as_cast = 0
    if getattr(args, "depthwise_cast", False):
        from .tractgraph import depthwise_quantize_as_cast

        as_cast = depthwise_quantize_as_cast(int8, int8)
    views = _photo_views(fp32)
    _set_photo_views(int8, views)
    ops: dict[str, int] = {}
    for n in onnx.load(str(int8)).graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    p32 = _ort_probs(fp32, d["x_test"])
    p8 = _ort_probs(int8, d["x_test"])
    y = d["y_test"]
    # Photos: the daemon's views of each face (the metadata's): with the mirror image's, averaged.
    if views == 2:
        mirrored = d["x_test"][:, :, ::-1]
        q32, q8 = (p32 + _ort_probs(fp32, mirrored)) / 2, (p8 + _ort_probs(int8, mirrored)) / 2
    else:
        q32, q8 = p32, p8
    # From the export stage (or, when only the quantize stage runs, the committed report).
    prev = _read_json(args.work / "export_fp32.json") or \
        (_read_json(args.out / "report" / "metrics.json") or {}).get("export") or {}
    res = {
        "calibration_images": n_cal,
        "quantization": {"format": "QOperator",
                         "activations": "int8 (symmetric)" if symmetric else "int8 (asymmetric)", "weights": "int8",
                         "per_channel": bool(args.per_channel), "calibration": "percentile 99.99",
                         "depthwise_float": bool(getattr(args, "depthwise_float", False)),
                         "kept_float": keep_float, "float_blocks": blocks,
                         "pointwise_one_row": one_row, "relu6_as_saturation": saturated,
                         "depthwise_quantize_as_cast": as_cast,
                         "operators": dict(sorted(ops.items()))},
        "test_fp32": metrics(y, p32),
        "test_int8": metrics(y, p8),
        "int8_fp32_label_agreement": float(((p8 >= 0.5) == (p32 >= 0.5)).mean()),
        "photo_views": views,
        "test_photo_fp32": metrics(y, q32),
        "test_photo_int8": metrics(y, q8),
        "int8_fp32_label_agreement_photo": float(((q8 >= 0.5) == (q32 >= 0.5)).mean()),
        "test_ece_fp32": ece(y, p32)[0] if len(y) else None,
        "test_ece_int8": ece(y, p8)[0] if len(y) else None,
        "test_reliability_fp32": ece(y, p32)[1] if len(y) else None,
        "max_abs_torch_vs_onnx_fp32": prev.get("max_abs_torch_vs_onnx_fp32"),
        "files": {},
    }
    lines = []
    for f in (fp32, int8):
        h = _sha256(f)
        res["files"][f.name] = {"sha256": h, "bytes": f.stat().st_size}
        lines.append(f"{h}  {f.name}\n")
    (args.out / "SHA256SUMS").write_text("".join(lines))
    _json(args.work / "export.json", res)
    np.savez(args.work / "test_probs.npz", ids=d["ids_test"], y=y, p32=p32, p8=p8)
    print(json.dumps({k: v for k, v in res.items() if k != "files"}, indent=1)[:3000], flush=True)


def _sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _read_json(p: Path):
    return json.loads(p.read_text()) if p.exists() else None


def _train_fold(args: Namespace, d: dict, f: int, need_logits: bool = False) -> None:
    """Cross-validation fold f (0-based): train on the other folds, keep its out-of-fold logits
    (plain and mirrored) and metrics in work/cv/fold{f}/; a fold finished with the same settings
    is skipped, and so is one carried over from the committed report unless its logits are
    needed (`need_logits`: a carried fold has only its metrics). A fold trained with other
    settings (an earlier recipe) is trained again."""
    out = args.work / "cv" / f"fold{f}" / "metrics.json"
    cfg = TrainConfig(width=_width(args), epochs=args.cv_epochs, seed=f)
    done = _read_json(out)
    same = done is not None and same_config(done.get("config"), cfg)
    if same and not (need_logits and not (out.parent / "val_logits.npz").exists()):
        print(f"fold {f + 1} done, skipping", flush=True)
        return
    if done and not same:
        print(f"fold {f + 1} was trained with other settings ({done.get('config')}): training it with "
              f"{cfg.__dict__}", flush=True)
    xtr, ytr, xva, yva = _fold_split(d, f)
    model, hist = train_fit(cfg, xtr, ytr, out.parent, xva, yva, f"cv fold {f + 1}/{args.folds}",
                            s_train=_soft(d, d["folds"] != f))
    lg, lf = logits_of(model, xva), logits_of(model, xva, flip=True)
    np.savez(out.parent / "val_logits.npz", y=yva, logits=lg, logits_flip=lf)
    m = metrics(yva, probs_from_logits(lg))
    m_tta = metrics(yva, (probs_from_logits(lg) + probs_from_logits(lf)) / 2)
    torch.save({"width": cfg.width, "state": model.state_dict()}, out.parent / "model.pt")
    _json(out, {"fold": f, "config": cfg.__dict__, "val": m, "val_flip_averaged": m_tta, "history": hist})
    (out.parent / "ckpt.pt").unlink(missing_ok=True)  # metrics.json marks the fold done


def cv(args: Namespace) -> None:
    if not 0 <= args.fold <= args.folds:
        raise SystemExit(f"--fold {args.fold}: give a fold from 1 to {args.folds} (0: all)")
    carry_over(args)  # folds finished on another machine are in the committed report
    d = _load(args)
    for f in [args.fold - 1] if args.fold else range(args.folds):
        _train_fold(args, d, f)


# Test-time flip averaging of photos is adopted when it gains at least this much balanced
# accuracy on the out-of-fold predictions (it doubles the classifier's work per photo face).
TTA_MIN_GAIN = 0.003
# The happy-logit shift may cost calibration up to this ECE (FER2013's happy share is a quarter;
# balanced accuracy weighs both moods alike).
BIAS_MAX_ECE = 0.02
# The fold whose validation logits decide flip averaging and the temperature (0-based: fold 1).
CALIBRATION_FOLD = 0


def calibrate(args: Namespace) -> None:
    """From fold 1's out-of-fold logits (the fold is trained first when missing, as the cv stage
    would): the temperature that calibrates P(happy) of one run per face (camera frames), ECE (15
    bins) before and after, the happy-logit shift, the reliability diagram's bins, and whether
    photos pay for a second run on the mirror image (TTA_MIN_GAIN, with the same temperature and
    shift) -> work/calibration.json. One fold (6,427 faces) decides, so that the shipped model is
    exported before the other folds train: they only estimate the recipe's accuracy."""
    _train_fold(args, _load(args), CALIBRATION_FOLD, need_logits=True)
    part = np.load(args.work / "cv" / f"fold{CALIBRATION_FOLD}" / "val_logits.npz")
    y, lg, lf = part["y"], part["logits"], part["logits_flip"]

    def probs(t: float, shift: float = 0.0, views: int = 1) -> np.ndarray:
        """P(happy) at temperature t with `shift` added to the happy logit after the division;
        `views` 2: averaged with the mirror image's."""
        sh = np.array([0.0, shift * t], dtype=np.float32)
        p = probs_from_logits(lg + sh, t)
        return (p + probs_from_logits(lf + sh, t)) / 2 if views == 2 else p
    best_t = fit_temperature(y, lg, probs)
    e_before, bins_before = ece(y, probs(1.0))
    e_after, bins_after = ece(y, probs(best_t))
    # The happy-logit shift (after T) with the best balanced accuracy whose ECE stays <= BIAS_MAX_ECE.
    tried = []
    for b in np.round(np.arange(0.0, 1.51, 0.05), 2):
        pb = probs(best_t, float(b))
        m = metrics(y, pb)
        tried.append({"bias": float(b), "balanced_accuracy": m["balanced_accuracy"], "accuracy": m["accuracy"],
                      "ece": ece(y, pb)[0]})
    ok = [t for t in tried if t["ece"] <= BIAS_MAX_ECE] or tried[:1]
    bias = max(ok, key=lambda t: (round(t["balanced_accuracy"], 4), -t["bias"]))
    e_final, bins_final = ece(y, probs(best_t, bias["bias"]))
    bands, min_conf = confidence_bands(y, probs(best_t, bias["bias"]))
    # Photos: the same calibrated model run on the face and on its mirror image, averaged.
    plain = metrics(y, probs(best_t, bias["bias"]))
    flipped = metrics(y, probs(best_t, bias["bias"], views=2))
    gain = flipped["balanced_accuracy"] - plain["balanced_accuracy"]
    # --tta on/off overrides the rule.
    tta = {"on": True, "off": False}.get(getattr(args, "tta", "auto"), bool(gain >= TTA_MIN_GAIN))
    res = {
        "fold": CALIBRATION_FOLD + 1,
        "out_of_fold_images": int(len(y)),
        "tta": {"plain": plain, "flip_averaged": flipped, "balanced_accuracy_gain": gain,
                "ece_flip_averaged": ece(y, probs(best_t, bias["bias"], views=2))[0],
                "rule": f"photos (not camera frames) are flip-averaged when it gains >= {TTA_MIN_GAIN * 100:.1f} "
                        "balanced-accuracy points (a second run per face)",
                "adopted": tta, "forced": getattr(args, "tta", "auto") != "auto"},
        "temperature": best_t,
        "ece_before": e_before, "ece_after": e_after,
        "happy_bias": {"value": bias["bias"], "chosen": bias, "tried": tried, "ece_final": e_final,
                       "rule": f"the best balanced accuracy whose ECE stays <= {BIAS_MAX_ECE}"},
        "reliability_final": bins_final,
        "reliability_before": bins_before, "reliability_after": bins_after,
        "confidence_bands": bands,
        "min_confidence": {"value": min_conf,
                           "rule": f"the lowest confidence from which every band's votes are right >= "
                                   f"{MIN_VOTE_ACCURACY:.0%} of the time (calibrated, fold {CALIBRATION_FOLD + 1})"},
    }
    _json(args.work / "calibration.json", res)
    print(json.dumps({k: v for k, v in res.items() if not k.startswith("reliability")}, indent=1), flush=True)


def ensemble(args: Namespace) -> None:
    """How far the recipe reaches on the de-duplicated test set when several of its networks
    vote: each cross-validation fold's model (trained on the other folds) alone, and the mean of
    their P(happy), one run per face and averaged with the mirror image, each with the calibrate
    stage's temperature and happy shift -> work/ensemble.json. A ceiling for one network of this
    recipe, not a candidate: an average of N networks costs N runs per face and the daemon runs
    one. Needs at least two folds' models (work/cv/fold*/model.pt, kept by the cv stage)."""
    d = _load(args)
    cal = _read_json(args.work / "calibration.json") or {}
    t, shift = float(cal.get("temperature", 1.0)), float((cal.get("happy_bias") or {}).get("value", 0.0))
    x, y = d["x_test"], d["y_test"]
    sh = np.array([0.0, shift * t], dtype=np.float32)  # the shift after T, as Exported adds it
    runs = []
    for f, p in _fold_models(args):
        model = _saved_model(p).to(memory_format=torch.channels_last)
        runs.append({"fold": f, "config": (_read_json(p.with_name("metrics.json")) or {}).get("config"),
                     "p": probs_from_logits(logits_of(model, x) + sh, t),
                     "p_flip": probs_from_logits(logits_of(model, x, flip=True) + sh, t)})
        print(f"fold {f}: test accuracy {metrics(y, runs[-1]['p'])['accuracy']:.4f}", flush=True)
    if len(runs) < 2:
        # A pipeline on a new machine has folds carried over without their models: keep what the
        # committed report measured (carry_over) rather than stop before the report.
        print(f"ensemble: {len(runs)} fold model(s) in {args.work / 'cv'}, 2 needed (run `training/run.sh cv`); "
              "skipping", flush=True)
        return

    def score(p: np.ndarray) -> dict:
        m = metrics(y, p)
        return {"accuracy": m["accuracy"], "balanced_accuracy": m["balanced_accuracy"], "ece": ece(y, p)[0]}
    mean = np.mean([r["p"] for r in runs], 0)
    mean_flip = np.mean([(r["p"] + r["p_flip"]) / 2 for r in runs], 0)
    res = {"test_images": int(len(y)), "temperature": t, "happy_bias": shift,
           "folds": [{"fold": r["fold"], "config": r["config"], "one_run": score(r["p"]),
                      "with_mirror": score((r["p"] + r["p_flip"]) / 2)} for r in runs],
           "mean": {"one_run": score(mean), "with_mirror": score(mean_flip)},
           "runs_per_face": {"one_run": len(runs), "with_mirror": 2 * len(runs)}}
    _json(args.work / "ensemble.json", res)
    print(json.dumps({k: v for k, v in res.items() if k != "folds"}, indent=1), flush=True)


# steady.min_confidence: a frame's mood counts as a vote from the confidence at which the
# calibrated model's votes are right at least this often.
MIN_VOTE_ACCURACY = 0.75


def confidence_bands(y: np.ndarray, p_happy: np.ndarray, step: float = 0.05) -> tuple[list[dict], float]:
    """Votes by confidence max(p, 1 - p) in bands of `step` from 0.5: count, share of all, and how
    often right; and the lowest band start from which every band (of at least 30 faces) is right
    >= MIN_VOTE_ACCURACY."""
    conf = np.maximum(p_happy, 1 - p_happy)
    right = (p_happy >= 0.5) == (y == 1)
    rows = []
    edges = 0.5 + step * np.arange(int(round(0.5 / step)) + 1)
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        m = (conf >= lo) & ((conf < hi) | (i == len(edges) - 2))
        rows.append({"lo": round(float(lo), 2), "hi": round(float(hi), 2), "n": int(m.sum()),
                     "share": float(m.mean()) if len(m) else 0.0,
                     "right": float(right[m].mean()) if m.any() else None,
                     "share_at_or_above": float((conf >= lo).mean()) if len(m) else 0.0})
    value = 1.0
    for r in reversed(rows):
        if r["n"] >= 30 and r["right"] < MIN_VOTE_ACCURACY:  # bands of < 30 faces say too little
            break
        value = r["lo"]
    return rows, float(value)


ABLATIONS = {
    "recipe": {},  # the baseline at the ablations' width (cv fold 1 when its settings are the same)
    "hard_labels": {"soft_targets": False},
    "previous_augmentation": {"crop_jitter": False, "degrade": False},
    # Twice the default --ablate-epochs: converged at 7? (the learning rate decays over the run)
    "twice_the_epochs": {"epochs": 14},
}


def cv_runs(folds: list, ablations: dict) -> list:
    """The cross-validation's runs as (label, width, epochs, validation metrics): each fold, and
    the ablations' recipe run when it is fold 1 at a width that fold 1 was not trained at (it
    completes that width's set of folds)."""
    runs = [(str(f["fold"] + 1), (f.get("config") or {}).get("width"), (f.get("config") or {}).get("epochs"),
             f["val"]) for f in folds]
    rec = ablations.get("recipe") or {}
    w = (rec.get("config") or {}).get("width")
    if rec and rec.get("from") is None and w is not None and all(
            (f.get("config") or {}).get("width") != w for f in folds if f["fold"] == 0):
        runs.append(("1 (the ablations' recipe run)", w, rec["config"].get("epochs"), rec["val"]))
    return runs


def ablate(args: Namespace) -> None:
    """Each recipe choice's effect on fold 1 (same width, epochs and seed for every run unless the
    change is the epochs): the recipe itself, then the recipe with one choice changed ->
    work/ablate/*/metrics.json. The recipe run is the cross-validation's fold 1 when that fold
    was trained with the same settings, and is trained here otherwise (fold 1 may be wider: it
    is the calibration fold)."""
    carry_over(args)  # ablations finished on another machine are in the committed report
    d = _load(args)
    width = _width(args)
    xtr, ytr, xva, yva = _fold_split(d, 0)
    for name, change in ABLATIONS.items():
        out = args.work / "ablate" / name / "metrics.json"
        if out.exists():
            print(f"ablation {name} done, skipping", flush=True)
            continue
        cfg = TrainConfig(**{"width": width, "epochs": args.ablate_epochs, "seed": 0, **change})
        fold1 = _read_json(args.work / "cv" / "fold0" / "metrics.json") or {}
        if not change and same_config(fold1.get("config"), cfg):
            _json(out, {"ablation": name, "change": change, "from": "cross-validation fold 1",
                        **{k: fold1[k] for k in ("config", "val", "val_flip_averaged", "history") if k in fold1}})
            continue
        model, hist = train_fit(cfg, xtr, ytr, out.parent, xva, yva, f"ablate {name}", s_train=_soft(d, d["folds"] != 0))
        lg, lf = logits_of(model, xva), logits_of(model, xva, flip=True)
        _json(out, {"ablation": name, "change": change, "config": cfg.__dict__,
                    "val": metrics(yva, probs_from_logits(lg)),
                    "val_flip_averaged": metrics(yva, (probs_from_logits(lg) + probs_from_logits(lf)) / 2),
                    "history": hist})
        (out.parent / "ckpt.pt").unlink(missing_ok=True)


def report(args: Namespace) -> None:
    from .report import write_report

    carry_over(args)
    write_report(args, platform.platform())
