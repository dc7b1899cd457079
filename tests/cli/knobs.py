#!/usr/bin/env python3
"""Every knob takes effect or is refused, over the whole config schema.

For every key of `cvtrain config --reference`, in every context it can apply to (each zoo model for
model.* keys; each optimizer, and each schedule, for optim.* keys; the default run for the rest), a
valid non-default value (PROBES, or one derived from the type) either changes what the key's
"changes" column says it changes, or the run is refused (exit 2) with a message naming the key:
  weights  the trained tensors differ          metrics  metrics.jsonl differs (timings aside)
  files    the run folder's files differ       speed    weights and metrics are the same bit for bit
  bits     weights and metrics agree to rounding (1e-4)
Keys whose column names another effect (ranks, input, terminal, faults, stopping, checks) are not probed. Each probed key must also train in at least one context: a probe that is refused everywhere
is a broken probe, not a pass. Runs are tiny (synthetic 28x28 images, 20 train, 8 test, batch 8).

  knobs.py CVTRAIN SOURCE_DIR [KEY_PREFIX...]    (env JOBS: parallel runs, default 2)
"""
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

BIN, SRC = sys.argv[1], sys.argv[2]
ONLY = sys.argv[3:]
JOBS = int(os.environ.get("JOBS", "2"))
BASE = {"data.dataset": "synthetic", "data.limit_train": "20", "data.limit_test": "8", "train.batch_size": "8",
        "train.epochs": "1", "train.eval_batch_size": "8", "train.progress": "false", "threads": "1"}
UNPROBED = {"ranks", "input", "terminal", "faults", "stopping", "checks"}
# Keys no run here can use: refused in every context is their pass.
REFUSED_HERE = {"device": "cuda needs a -DCVTRAIN_CUDA=ON build and a GPU"}
AXES = {"model.name", "optim.name", "optim.schedule"}  # the keys contexts vary
BASE_RUN = "@BASE_RUN"  # stands for the context's own base run folder (model.init_from)

# key: value, or (value, overrides that make the key apply), or (value, overrides, keys set with the
# probe only: a pair that is valid only together, as data.mean and data.std). Values are YAML, as --set
# takes them.
PROBES = {
    "seed": "1", "threads": "2", "device": "cuda", "data.dataset": "fashion_mnist", "data.limit_train": "16",
    "data.limit_test": "4", "data.val_fraction": "0.25", "data.preprocess": "mean_image",
    "data.preprocess_components": ("16", {"data.preprocess": "pca", "model.name": "mlp"}),
    "data.whiten_epsilon": ("0.1", {"data.preprocess": "zca"}),
    "data.workers": "1", "data.drop_last": "true", "data.mixup_alpha": "0.4", "data.cutmix_alpha": "0.4",
    "data.classes": "[0, 1]", "data.per_class": "3", "data.augment": "[{name: hflip}]",
    "data.image_size": "20", "data.channels": "3", "data.crop_fraction": ("0.875", {"data.image_size": "24"}),
    "data.mean": ("[0.5]", {}, {"data.std": "[0.25]"}), "data.std": ("[0.25]", {}, {"data.mean": "[0.5]"}),
    "model.name": "mlp", "model.dropout": "0.3", "model.dropout_mode": "original", "model.activation": "tanh",
    "model.activation_slope": ("0.2", {"model.activation": "leaky_relu"}),
    "model.activation_alpha": ("0.5", {"model.activation": "elu"}),
    "model.init": "xavier_normal",
    "model.init_scale": ("0.05", {"model.init": "normal"}),
    "model.init_mode": ("fan_out", {"model.init": "kaiming_normal"}),
    "model.init_gain": ("2", {"model.init": "xavier_normal"}),
    "model.init_overrides": "net.0=normal:0.02",
    "model.depth": "3", "model.width": "32", "model.channels": "[8, 16]", "model.stage_convs": "1",
    "model.zero_init_residual": "true", "model.init_from": BASE_RUN, "model.freeze": "backbone",
    "model.reset_head": ("4", {"model.init_from": BASE_RUN}), "model.freeze_bn": "true",
    "model.freeze_epochs": ("1", {"model.freeze": "backbone", "train.epochs": "2"}),
    "model.drop_path": "0.3", "model.drop_path_mode": ("batch", {"model.drop_path": "0.5"}),
    "model.dropconnect": "0.3", "model.pool": "fractional",
    "model.fmp_ratio": ("1.6", {"model.pool": "fractional"}),
    "model.fmp_overlapping": ("false", {"model.pool": "fractional"}),
    "model.fmp_sequence": ("pseudo_random", {"model.pool": "fractional"}),
    "model.fmp_test_samples": ("2", {"model.pool": "fractional"}),
    "model.batch_norm": "false",
    "train.epochs": "2", "train.batch_size": "4", "train.eval_batch_size": "3",
    # probed where it is easiest to lose: mixup's soft targets take the smoothing too
    "train.label_smoothing": ("0.2", {"data.mixup_alpha": "0.4"}),
    "train.eval_every": ("2", {"train.epochs": "3"}), "train.clip_grad_norm": "0.01",
    "train.clip_grad_value": "0.0001", "train.accumulate_steps": "2", "train.ema_decay": "0.5",
    "train.checkpoint_every_steps": "1", "train.keep_last": ("1", {"train.checkpoint_every_steps": "1"}),
    "train.log_every_steps": "2", "train.diagnostics_every": "1", "train.max_steps": "2",
    "train.tensorboard": "false", "train.histograms": "false", "train.plots": "false", "train.snapshots": "true",
    "train.precision": "bf16", "train.bf16_activations": ("false", {"train.precision": "bf16"}),
    "train.memory_format": "nchw",
    "optim.name": "adam", "optim.lr": "0.03", "optim.momentum": "0.5",
    "optim.dampening": ("0.5", {"optim.nesterov": "false"}),
    "optim.nesterov": "false", "optim.weight_decay": "0.05", "optim.l1": "0.01", "optim.schedule": "cosine",
    "optim.pct_start": "0.5", "optim.cycle_momentum": "false", "optim.base_momentum": "0.5",
    "optim.max_momentum": "0.99", "optim.min_lr": "0.05", "optim.beta1": ("0.5", {"optim.cycle_momentum": "false"}), "optim.beta2": "0.9",
    "optim.eps": "0.1", "optim.alpha": "0.5", "optim.centered": "true", "optim.lr_decay": "0.5",
    "optim.initial_accumulator": "0.5", "optim.trust_coefficient": "0.01", "optim.decay_bias_and_norm": "false",
    "optim.bias_lr_mult": "3",
    "optim.gamma": ("0.5", {"train.epochs": "3"}),
    "optim.step_size": ("2", {"train.epochs": "3"}),
    "optim.milestones": ("[2]", {"train.epochs": "3"}),
    "optim.restart_period": ("2", {"train.epochs": "3"}),
    "optim.restart_mult": ("2", {"train.epochs": "4"}),
    "optim.power": "3", "optim.warmup_steps": "2", "optim.warmup_epochs": "1",
    "optim.warmup_start_factor": ("0.5", {"optim.warmup_steps": "2"}),
    "optim.scale_lr": "linear", "optim.base_batch_size": ("64", {"optim.scale_lr": "linear"}),
    "optim.lr_mult": "{net.0: 0.5}",
    # in the plateau context (SCHEDULE_CONTEXT: the lr falls at each evaluation)
    "optim.plateau_factor": "0.5", "optim.plateau_patience": "1", "optim.plateau_threshold": "0.00001",
    "train.keep": ("ema", {"train.ema_decay": "0.5"}),
}
# A schedule context that needs more than the base run to act: plateau lowers the lr only after
# evaluations without progress, so its context runs 4 epochs at an lr where the validation loss falls
# slowly, and counts every evaluation as one without progress (threshold 0.9).
SCHEDULE_CONTEXT = {"multistep": {"optim.milestones": "[1]"},
                    "plateau": {"train.epochs": "4", "optim.lr": "0.01", "optim.plateau_patience": "0",
                                "optim.plateau_threshold": "0.9"}}


def run(args, timeout=600):
    return subprocess.run([BIN] + args, capture_output=True, text=True, timeout=timeout)


def known(args, what):
    err = run(args).stderr
    m = re.search(r"known: ([^)]*)\)", err)
    if not m:
        sys.exit(f"FAIL: cannot read the {what} from: {err.strip()}")
    return [x.strip() for x in m.group(1).split(",")]


def reference():
    keys = []
    for line in run(["config", "--reference"]).stdout.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) >= 5 and cells[0].startswith("`"):
            keys.append({"key": cells[0].strip("`"), "type": cells[1], "default": cells[2].strip("`"),
                         "changes": cells[3]})
    return keys


def derived(k):
    t, d = k["type"], k["default"]
    if t == "bool":
        return "false" if d == "true" else "true"
    if t == "int":
        return "1" if d in ("0", "-1") else str(int(d) + 1)
    if t == "float":
        return "0.1" if float(d) <= 0 else repr(float(d) / 2)
    return None


def tensors_digest(path):
    """sha256 of a safetensors file's tensors (names, shapes, bytes), its metadata left out."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    h = hashlib.sha256(json.dumps(header, sort_keys=True).encode())
    h.update(raw[8 + n:])
    return h.hexdigest()


def read_tensors(path):
    """name -> list of floats, for the f32 tensors of a safetensors file."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, t in header.items():
        if name != "__metadata__" and t["dtype"] == "F32":
            a, b = t["data_offsets"]
            out[name] = struct.unpack(f"<{(b - a) // 4}f", raw[8 + n + a:8 + n + b])
    return out


def tensors_maxdiff(a, b):
    ta, tb = (read_tensors(os.path.join(f, "model.safetensors")) for f in (a, b))
    if ta.keys() != tb.keys():
        return float("inf")
    return max((abs(x - y) for k in ta for x, y in zip(ta[k], tb[k])), default=0.0)


def metrics_maxdiff(a, b):
    ra, rb = (json.loads(metrics_digest(f)) for f in (a, b))
    if len(ra) != len(rb):
        return float("inf")
    d = 0.0
    for x, y in zip(ra, rb):
        for k in x:
            if isinstance(x[k], (int, float)):
                d = max(d, abs(x[k] - y.get(k, float("inf"))) / max(1.0, abs(x[k])))
    return d


TIMING = re.compile(r"seconds|_s$|per_s|wall|time")


def metrics_digest(folder):
    rows = []
    with open(os.path.join(folder, "metrics.jsonl")) as f:
        for line in f:
            rows.append({k: v for k, v in json.loads(line).items() if not TIMING.search(k)})
    return json.dumps(rows, sort_keys=True)


def files_digest(folder):
    out = []
    for root, _, files in os.walk(folder):
        for name in files:
            p = os.path.join(root, name)
            rel = os.path.relpath(p, folder)
            rel = re.sub(r"tfevents\.\d+\.[^/]*", "tfevents", rel)  # the writer's time and host
            if name.endswith(".jsonl") or name.endswith(".csv"):
                out.append((rel, sum(1 for _ in open(p))))
            elif "tfevents" in name:  # fixed-size records: the size says what was logged
                out.append((rel, os.path.getsize(p)))
            else:
                out.append((rel, 0))
    return sorted(out)


EMPTY = None  # an empty config file: every key at its default


def train(settings, out):
    args = ["train", EMPTY, "--out", out, "--overwrite"]
    for k, v in settings.items():
        args += ["--set", f"{k}={v}"]
    return run(args)


class Outcome:
    def __init__(self, proc, folder):
        self.code, self.err, self.folder = proc.returncode, proc.stderr.strip(), folder

    def digest(self, what):
        if what == "weights":
            return tensors_digest(os.path.join(self.folder, "model.safetensors"))
        if what == "metrics":
            return metrics_digest(self.folder)
        return files_digest(self.folder)


def main():
    tmp = tempfile.mkdtemp(prefix="cvtrain-knobs-")
    try:
        return check(tmp)
    finally:
        if not os.environ.get("KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)


def check(tmp):
    global EMPTY
    EMPTY = os.path.join(tmp, "defaults.yaml")
    open(EMPTY, "w").write("{}\n")
    models = [line.split()[0] for line in run(["models"]).stdout.splitlines()[1:] if line.strip()]
    optimizers = known(["config", "--set", "optim.name=none"], "optimizers")
    schedules = known(["schedule", os.path.join(SRC, "recipes", "fashion_mlp.yaml"), "--set", "optim.schedule=none"], "schedules")
    keys = reference()
    if len(keys) < 100 or not models or not optimizers or not schedules:
        sys.exit(f"FAIL: read {len(keys)} keys, {len(models)} models, {len(optimizers)} optimizers, "
                 f"{len(schedules)} schedules")

    def contexts(key):
        if key.startswith("model."):  # deep_mlp at its default 6 x 4096 takes seconds a run: smaller here
            return [{"model.name": m, **({"model.width": "64", "model.depth": "2"} if m == "deep_mlp" else {})}
                    for m in models]
        if key.startswith("optim."):
            # adaptive optimizers at an lr of their own: at the program's 0.1 rmsprop diverges, and a
            # diverging run is refused, so it could not show any key's effect
            lr = {"rmsprop": "0.001", "adam": "0.003", "adamw": "0.003"}
            return [{"optim.name": o, **({"optim.lr": lr[o]} if o in lr else {})} for o in optimizers] + [
                {"optim.schedule": s, **SCHEDULE_CONTEXT.get(s, {})} for s in schedules]
        return [{}]

    jobs, failures, skipped = [], [], []
    failed_keys = set()

    def fail(key, text):
        failed_keys.add(key)
        failures.append(text)

    for k in keys:
        key = k["key"]
        if ONLY and not any(key.startswith(p) for p in ONLY):
            continue
        if k["changes"] in UNPROBED:
            skipped.append(f"{key} ({k['changes']})")
            continue
        probe = PROBES.get(key, derived(k))
        if probe is None:
            fail(key, f"{key}: no probe value; add one to PROBES in tests/cli/knobs.py")
            continue
        value, enable, together = (probe + ({},))[:3] if isinstance(probe, tuple) else (probe, {}, {})
        for ctx in contexts(key):
            if ctx.get(key) == value or (key in AXES and key in ctx):
                continue
            jobs.append((k, (value, together), {**BASE, **ctx, **enable}))

    # One base run per distinct context, then every probe against its context's base. A context that
    # starts from @BASE_RUN (model.init_from) uses the base run of its plain twin, which runs first.
    def key_of(ctx):
        return json.dumps(ctx, sort_keys=True)

    def plain(ctx):
        return {k: v for k, v in ctx.items() if v != BASE_RUN and k != "model.reset_head"}

    def folder_of_base(ctx):
        return bases[key_of(plain(ctx))].folder

    def run_base(i, ctx_text):
        ctx = json.loads(ctx_text)
        folder = os.path.join(tmp, f"base{i}")
        ctx = {k: (folder_of_base(ctx) if v == BASE_RUN else v) for k, v in ctx.items()}
        return ctx_text, Outcome(train(ctx, folder), folder)

    texts = {key_of(c) for _, _, c in jobs} | {key_of(plain(c)) for _, _, c in jobs}
    independent = sorted(t for t in texts if BASE_RUN not in t)
    dependent = sorted(t for t in texts if BASE_RUN in t)
    bases = {}
    with concurrent.futures.ThreadPoolExecutor(JOBS) as pool:
        for group, start in ((independent, 0), (dependent, len(independent))):
            for text, outcome in pool.map(lambda a: run_base(*a), enumerate(group, start=start)):
                bases[text] = outcome

    def probe_one(i, job):
        k, (value, together), ctx = job
        base = bases[json.dumps(ctx, sort_keys=True)]
        if base.code != 0:
            return k, ctx, "context", base.err.splitlines()[-1] if base.err else f"exit {base.code}"
        folder = os.path.join(tmp, f"probe{i}")
        settings = {kk: (folder_of_base(ctx) if v == BASE_RUN else v) for kk, v in ctx.items()}
        settings[k["key"]] = folder_of_base(ctx) if value == BASE_RUN else value
        settings.update(together)
        out = Outcome(train(settings, folder), folder)
        if out.code == 2 and k["key"] in out.err:
            verdict = ("refused", out.err.splitlines()[-1])
        elif out.code == 2 and "the loss is NaN" in out.err and k["changes"] == "weights":
            verdict = ("ok", "")  # the value made training diverge: it took effect
        elif out.code != 0:
            verdict = ("error", f"exit {out.code}: {out.err.splitlines()[-1] if out.err else ''}")
        else:
            what = k["changes"]
            if what == "speed":
                same = all(out.digest(w) == base.digest(w) for w in ("weights", "metrics"))
                verdict = ("ok", "") if same else ("violation", "a speed key changed the results")
            elif what == "bits":
                d = max(tensors_maxdiff(out.folder, base.folder), metrics_maxdiff(out.folder, base.folder))
                verdict = ("ok", "") if d <= 1e-4 else ("violation", f"the results moved by {d:.3g}, beyond rounding")
            else:
                changed = out.digest(what) != base.digest(what)
                verdict = ("ok", "") if changed else ("violation", f"accepted, but the {what} did not change")
        shutil.rmtree(folder, ignore_errors=True)
        return k, ctx, verdict[0], verdict[1]

    trained, contexts_failed = {}, set()
    counts = {"ok": 0, "refused": 0, "context": 0}
    with concurrent.futures.ThreadPoolExecutor(JOBS) as pool:
        for k, ctx, verdict, why in pool.map(lambda a: probe_one(*a), enumerate(jobs)):
            key = k["key"]
            trained.setdefault(key, False)
            where = ", ".join(f"{a}={b}" for a, b in ctx.items() if a not in BASE or BASE[a] != b)
            if verdict in counts:
                counts[verdict] += 1
            if verdict == "ok":
                trained[key] = True
            elif verdict == "context":
                contexts_failed.add(f"[{where}]: {why}")
            elif verdict in ("violation", "error"):
                fail(key, f"{key}={PROBES.get(key, derived(k))} [{where}]: {why}")
    for key, ok in trained.items():
        if not ok and key not in REFUSED_HERE:
            fail(key, f"{key}: refused or failed in every context; the probe value or its context is wrong")
    print(f"knobs: {len(trained)} keys probed in {len(jobs)} runs ({counts['ok']} took effect, "
          f"{counts['refused']} refused, {counts['context']} contexts that cannot run); not probed: "
          f"{', '.join(skipped)}")
    for c in sorted(contexts_failed):
        print("context that cannot run:", c)
    for f in failures:
        print("FAIL:", f)
    print(f"knobs: {len(set(trained) - failed_keys)} passed, {len(failed_keys)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
