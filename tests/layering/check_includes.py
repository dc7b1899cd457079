#!/usr/bin/env python3
"""The layers of src/cvtrain include downwards only: a file in folder A may include cvtrain/B/ only
when B's rank is below A's (or B is A). Every folder must have a rank, so a new one gets a place.
The order is docs/design.md's; exits 1 naming each include that points the wrong way.

  check_includes.py SOURCE_DIR
"""
import os
import re
import sys

# Lower ranks are lower layers. Folders of one rank do not include each other.
RANK = {
    "base": 0,       # errors, files, bf16: what every layer may use
    "backend": 1,    # cpu/ and cuda/ kernels
    "tensor": 2,     # Storage, Tensor views, dtype, RNG
    "autograd": 3,   # graph nodes, backward driver
    "ops": 4,        # differentiable ops, forward and backward side by side
    "nn": 5, "data": 5, "viz": 5,  # modules and the zoo; datasets, augmentation; PNG charts
    "optim": 6,      # optimizers (over nn's parameter arena), schedules
    "interop": 6,    # ONNX export of nn's modules (its own library, on protobuf)
    "dist": 7,       # data parallel: communicators, the sampler
    "train": 8,      # the loop, checkpoints, logs, config loading and run setup, reading trained weights
    "cli": 10,       # the program
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"cvtrain/([a-z_]+)/')


def main():
    root = os.path.join(sys.argv[1], "src", "cvtrain")
    problems, files = [], 0
    for folder in sorted(os.listdir(root)):
        if not os.path.isdir(os.path.join(root, folder)):
            continue
        if folder not in RANK:
            problems.append(f"src/cvtrain/{folder}/: no layer rank; add it to tests/layering/check_includes.py and docs/design.md")
            continue
        for dirpath, _, names in os.walk(os.path.join(root, folder)):
            for name in names:
                if not name.endswith((".h", ".cpp", ".cu", ".cuh")):
                    continue
                files += 1
                path = os.path.join(dirpath, name)
                for n, line in enumerate(open(path, encoding="utf-8"), 1):
                    m = INCLUDE.match(line)
                    if not m or m.group(1) == folder:
                        continue
                    target = m.group(1)
                    if target not in RANK or RANK[target] >= RANK[folder]:
                        rel = os.path.relpath(path, sys.argv[1])
                        problems.append(f"{rel}:{n}: {folder} (rank {RANK[folder]}) includes cvtrain/{target}/ "
                                        f"(rank {RANK.get(target, '?')}): an include pointing up or sideways")
    for p in problems:
        print("FAIL:", p)
    print(f"layering: {files} files checked, {len(problems)} wrong includes")
    print(f"layering: {1 if not problems else 0} passed, {1 if problems else 0} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
