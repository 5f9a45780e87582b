"""Training K ConvNet copies at once: sequential vs grouped convolutions vs ``torch.func.vmap``
vs batched matrix products of unfolded patches.

One "step" is forward, cross-entropy and backward of all K copies on the same batch (the LR
screen's situation: K runs that differ only in the learning rate; the optimizer's share is
negligible and left out). The variants are measured interleaved in one process: each repeat runs
every variant once, in a rotating order, and the table reports medians over repeats, so machine
noise hits all variants alike. Compare the ratios, not the absolute seconds.

    python benchmarks/batched_models.py                       # 7 x base 48, 3x32x32, batch 128
    python benchmarks/batched_models.py --base 16 --in-channels 1 --size 28
    python benchmarks/batched_models.py --device cuda --repeats 20
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap

from optevo.models import ConvNet, grouped_from_models

Step = Callable[[], None]


def sequential_step(models: list[ConvNet], x: torch.Tensor, y: torch.Tensor) -> Step:
    """(a)/(b): one model after another, each with its own backward."""

    def step() -> None:
        for model in models:
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()

    return step


def grouped_step(
    models: list[ConvNet], x: torch.Tensor, y: torch.Tensor, channels_last: bool
) -> Step:
    """(c): one GroupedConvNet; the loss is the sum of the per-copy mean losses."""
    grouped = grouped_from_models(models).train()
    if channels_last:
        # Packing copies parameters into fresh contiguous tensors: convert the packed weights.
        grouped = grouped.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        x = x.contiguous(memory_format=torch.channels_last)
    k = grouped.k
    targets = y.repeat(k)

    def step() -> None:
        grouped.zero_grad(set_to_none=True)
        logits = grouped(x)
        # mean over K*B times K == sum over copies of each copy's mean loss.
        (F.cross_entropy(logits.flatten(0, 1), targets) * k).backward()

    return step


def vmap_step(models: list[ConvNet], x: torch.Tensor, y: torch.Tensor) -> Step:
    """(d): ``vmap`` of ``functional_call`` over stacked parameters and buffers.

    BatchNorm in train mode updates its running statistics in place. Under ``vmap`` that only
    works when the buffers are batched too (an unbatched buffer cannot receive K different
    updates), so the buffers are stacked and mapped over like the parameters.
    Dropout uses ``randomness="different"``: each copy gets its own mask from the global RNG.
    """
    params, buffers = stack_module_state(models)  # type: ignore[arg-type]
    skeleton = copy.deepcopy(models[0]).to("meta")
    k = len(models)
    targets = y.repeat(k)

    def one_model(p: dict, b: dict, inputs: torch.Tensor) -> torch.Tensor:
        return functional_call(skeleton, (p, b), (inputs,))

    batched = vmap(one_model, in_dims=(0, 0, None), randomness="different")

    def step() -> None:
        for p in params.values():
            p.grad = None
        logits = batched(params, buffers, x)
        (F.cross_entropy(logits.flatten(0, 1), targets) * k).backward()

    return step


def _unfold_conv(x: torch.Tensor, weight: torch.Tensor, stride: int) -> torch.Tensor:
    """K convolutions (3x3, padding 1) as one batched matmul of unfolded patches.

    x: (K, B, C, H, W) per-copy inputs, or (B, C, H, W) shared by every copy; weight:
    (K, O, C*9). Returns (K, B, O, H', W')."""
    shared = x.dim() == 4
    k = weight.shape[0]
    b, c, h, w = x.shape if shared else x.shape[1:]
    flat = x if shared else x.flatten(0, 1)
    cols = F.unfold(flat, 3, padding=1, stride=stride)  # (B or K*B, C*9, L)
    ho, wo = (h + 2 - 3) // stride + 1, (w + 2 - 3) // stride + 1
    if shared:
        out = torch.matmul(weight.unsqueeze(1), cols.unsqueeze(0))  # (K, B, O, L)
    else:
        out = torch.matmul(weight.unsqueeze(1), cols.view(k, b, c * 9, -1))
    return out.view(k, b, -1, ho, wo)


def _batch_norm(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Per-copy training-mode BatchNorm of (K, B, C, H, W) with (K, C) affine parameters."""
    mean = x.mean(dim=(1, 3, 4), keepdim=True)
    var = x.var(dim=(1, 3, 4), unbiased=False, keepdim=True)
    scale = gamma[:, None, :, None, None] * torch.rsqrt(var + 1e-5)
    return (x - mean) * scale + beta[:, None, :, None, None]


def unfold_step(models: list[ConvNet], x: torch.Tensor, y: torch.Tensor) -> Step:
    """(e): every convolution as a batched matmul of unfolded patches (im2col), BatchNorm and
    the head on (K, ...) stacked parameters (running statistics left out: timing only)."""
    k = len(models)

    def stack(get: Callable[[ConvNet], torch.Tensor]) -> torch.Tensor:
        return torch.stack([get(m).detach().reshape(get(m).shape[0], -1) for m in models])

    convs = [stack(lambda m, i=i: getattr(m, f"conv{i}").weight) for i in (1, 2, 3)]
    bns = [
        (
            stack(lambda m, i=i: getattr(m, f"bn{i}").weight.unsqueeze(1)).squeeze(-1),
            stack(lambda m, i=i: getattr(m, f"bn{i}").bias.unsqueeze(1)).squeeze(-1),
        )
        for i in (1, 2, 3)
    ]
    fc_w = torch.stack([m.fc.weight.detach() for m in models])  # (K, classes, F)
    fc_b = torch.stack([m.fc.bias.detach() for m in models])  # (K, classes)
    params = [*convs, *(t for pair in bns for t in pair), fc_w, fc_b]
    for p in params:
        p.requires_grad_(True)
    targets = y.repeat(k)
    p_drop = models[0].dropout_p

    def step() -> None:
        for p in params:
            p.grad = None
        h: torch.Tensor = x
        for (gamma, beta), weight, stride in zip(bns, convs, (1, 2, 2), strict=True):
            h = F.silu(_batch_norm(_unfold_conv(h, weight, stride), gamma, beta))
        feats = F.dropout(h.mean(dim=(3, 4)), p_drop, training=True)  # (K, B, F)
        logits = torch.baddbmm(fc_b.unsqueeze(1), feats, fc_w.transpose(1, 2))
        (F.cross_entropy(logits.flatten(0, 1), targets) * k).backward()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=7, help="number of copies")
    parser.add_argument("--base", type=int, default=48)
    parser.add_argument("--in-channels", type=int, default=3)
    parser.add_argument("--size", type=int, default=32, help="image height and width")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats (median taken)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per variant")
    parser.add_argument("--steps", type=int, default=1, help="steps per timed measurement")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--skip-vmap", action="store_true", help="leave out variant (d)")
    parser.add_argument(
        "--only",
        default=None,
        help="time only the variants whose name contains this (e.g. 'unfold'; '(a)' is always "
        "kept as the reference): run once per variant for a fresh process each",
    )
    args = parser.parse_args()
    if args.repeats < 5:
        parser.error("--repeats must be at least 5 for a meaningful median")

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        # Fixed shapes: let cuDNN pick the fastest algorithms once, during the warm-up.
        torch.backends.cudnn.benchmark = True

    torch.manual_seed(0)
    models = [
        ConvNet(args.base, args.in_channels, args.classes).to(device).train() for _ in range(args.k)
    ]
    x = torch.randn(args.batch, args.in_channels, args.size, args.size, device=device)
    y = torch.randint(0, args.classes, (args.batch,), device=device)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    # Each variant gets its own copies so no variant's state (grads, BN stats) touches another.
    models_cl = [
        copy.deepcopy(m).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        for m in models
    ]

    makers: dict[str, Callable[[], Step]] = {
        "(a) sequential": lambda: sequential_step([copy.deepcopy(m) for m in models], x, y),
        "(b) sequential channels-last": lambda: sequential_step(models_cl, x_cl, y),
        "(c) grouped": lambda: grouped_step(models, x, y, channels_last=False),
        "(c) grouped channels-last": lambda: grouped_step(models, x, y, channels_last=True),
        "(d) vmap": lambda: vmap_step(models, x, y),
        "(e) unfold + bmm": lambda: unfold_step(models, x, y),
    }
    if args.skip_vmap:
        del makers["(d) vmap"]
    if args.only is not None:  # built only if timed: nothing else in the process
        makers = {n: m for n, m in makers.items() if args.only in n or n.startswith("(a)")}
    variants = {name: make() for name, make in makers.items()}

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for step in variants.values():
        for _ in range(args.warmup):
            step()
    sync()

    names = list(variants)
    times: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(args.repeats):
        # Rotate the order so no variant always runs right after the same neighbour.
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            sync()
            start = time.perf_counter()
            for _ in range(args.steps):
                variants[name]()
            sync()
            times[name].append((time.perf_counter() - start) / args.steps)

    print(
        f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, "
        f"K={args.k} ConvNet(base={args.base}) at {args.in_channels}x{args.size}x{args.size}, "
        f"batch {args.batch}, {args.repeats} repeats x {args.steps} step(s) after "
        f"{args.warmup} warm-up steps"
    )
    reference = statistics.median(times[names[0]])
    header = (
        f"{'variant':<30} {'median s/step':>14} {'min s/step':>11} {'time/(a)':>9} {'speed':>7}"
    )
    print(header)
    print("-" * len(header))
    for name in names:
        med = statistics.median(times[name])
        print(
            f"{name:<30} {med:>14.4f} {min(times[name]):>11.4f} "
            f"{med / reference:>9.2f} {reference / med:>6.2f}x"
        )
    print("speed = (a)'s median / this variant's median (>1: faster than sequential)")


if __name__ == "__main__":
    main()
