"""Wall time of each transfer task per 1,000 training steps at --scale 1 (full-size models,
real batch sizes and image sizes), measured on a few steps and extrapolated.

Data are random images / tokens of the real shapes (the pipeline, augmentation included, is
the real one; decoding files happens once per bench and is not counted). Each task: one run
of 1 step and one of 1 + K steps through the bench's own runner; (t(1+K) - t(1)) / K is the
time of one step without model building, checkpoint loading or evaluation (after one
warm-up run; K is at least 20 for the small ConvNet tasks). Both wall time and the process's
CPU time are printed: on a shared machine the wall time includes waiting for a core, while
with one torch thread the CPU time is what one idle core would take.

    python benchmarks/transfer_steps.py [--steps K] [--threads N] [--tasks a,b] [--device D]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from optevo.models.efficientnet import EfficientNetV2S
from optevo.optim.spec import named
from optevo.tasks.base import RunRequest, TaskOptions
from optevo.tasks.bench_data import TextSet, make_set
from optevo.tasks.registry import TASKS

SHAPES = {  # task: (channels, side, classes, training images)
    "fashion-convnet": (1, 28, 10, 256),
    "cifar10-convnet": (3, 32, 10, 512),
    "cifar10-effnetv2s": (3, 32, 10, 256),
    "cifar100-effnetv2s": (3, 32, 100, 256),
    "tinyimagenet-resnet9": (3, 72, 200, 512),
    "flowers102-finetune": (3, 224, 102, 128),
    "cars196-finetune": (3, 224, 196, 128),
    "caltech101-finetune": (3, 224, 102, 128),
}


def synthetic(task: str):
    rng = np.random.default_rng(0)
    if task == "ptb-awdlstm":
        ids = torch.from_numpy(rng.integers(0, 10_000, 200_000))
        return TextSet(ids, ids[:7_000], ids[:7_000], tuple(f"w{i}" for i in range(10_000)))
    c, side, classes, n = SHAPES[task]

    def split(k: int) -> tuple[np.ndarray, np.ndarray]:
        images = rng.integers(0, 256, (k, c, side, side), dtype=np.uint8)
        return images, rng.integers(0, classes, k)

    return make_set(task, split(n), split(8), split(8), classes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    bench_tasks = [t.name for t in TASKS.values() if "bench" in t.sizes]
    parser.add_argument("--tasks", default=",".join(bench_tasks))
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    adam = named(["Adam"])[0]
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "effnet.pth"
        torch.save(EfficientNetV2S(1000).state_dict(), checkpoint)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.device}")
        print(
            "| task | batch | CPU s/step | wall s/step | hours per 1,000 steps (CPU) "
            "| steps at scale 1 | hours at scale 1 (CPU) |"
        )
        print("|---|---|---|---|---|---|---|")
        for task in args.tasks.split(","):
            spec = TASKS[task]
            budget = spec.budget
            opts = TaskOptions(checkpoint=checkpoint, device=args.device, data=synthetic(task))
            runner = spec.build(opts, budget)
            k = max(args.steps, 20) if task.endswith("convnet") else args.steps
            runner.run(RunRequest(adam, 1e-3, 0, 1, budget.total_steps, 10, 10, "val"))  # warm-up
            wall, cpu = [], []
            for steps in (1, 1 + k):
                t0, c0 = time.perf_counter(), time.process_time()
                runner.run(RunRequest(adam, 1e-3, 0, steps, budget.total_steps, 10, 10, "val"))
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            per_step = (wall[1] - wall[0]) / k
            cpu_step = (cpu[1] - cpu[0]) / k
            hours = budget.total_steps * cpu_step / 3600
            print(
                f"| {task} | {budget.batch_size} | {cpu_step:.3f} | {per_step:.3f} "
                f"| {cpu_step * 1000 / 3600:.2f} | {budget.total_steps:,} | {hours:,.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
