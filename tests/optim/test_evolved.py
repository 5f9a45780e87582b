"""EvolvedOptimizer as a torch.optim.Optimizer: reference equivalence and conventions."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch import nn

from optevo import Genome, Node, library
from optevo.optim import A1, NAMES, EvolvedOptimizer, Opt6, Opt10, create


def small_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    # No conv bias: BatchNorm cancels its gradient to rounding noise, which Adam amplifies.
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, bias=False),
        nn.BatchNorm2d(4),
        nn.SiLU(),
        nn.Flatten(),
        nn.Linear(4 * 6 * 6, 10),
    )


def batches(n: int, seed: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(16, 3, 8, 8, generator=g), torch.randint(0, 10, (16,), generator=g))
        for _ in range(n)
    ]


def train(net: nn.Module, opt: torch.optim.Optimizer, data) -> None:
    for x, y in data:
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()


def max_rel_diff(a: nn.Module, b: nn.Module) -> float:
    return max(
        ((p - q).abs().max() / q.abs().max().clamp(min=1e-12)).item()
        for p, q in zip(a.parameters(), b.parameters(), strict=True)
    )


def test_adam_genome_reproduces_torch_adam() -> None:
    a, b = small_net(), small_net()
    ours = EvolvedOptimizer(
        a.parameters(), library.genome("Adam"), lr=1e-2, total_steps=200, schedule="constant"
    )
    ref = torch.optim.Adam(b.parameters(), lr=1e-2, betas=(0.9, 0.99), eps=1e-7)
    data = batches(200)
    train(a, ours, data)
    train(b, ref, data)
    assert max_rel_diff(a, b) < 1e-5


def test_weight_decay_is_decoupled_like_adamw() -> None:
    a, b = small_net(), small_net()
    ours = EvolvedOptimizer(
        a.parameters(),
        library.genome("Adam"),
        lr=1e-2,
        total_steps=50,
        schedule="constant",
        weight_decay=0.1,
    )
    ref = torch.optim.AdamW(b.parameters(), lr=1e-2, betas=(0.9, 0.99), eps=1e-7, weight_decay=0.1)
    data = batches(50)
    train(a, ours, data)
    train(b, ref, data)
    assert max_rel_diff(a, b) < 1e-5


def test_constant_schedule_follows_torch_lr_scheduler() -> None:
    a, b = small_net(), small_net()
    ours = EvolvedOptimizer(
        a.parameters(), library.genome("Adam"), lr=1e-2, total_steps=60, schedule="constant"
    )
    ref = torch.optim.Adam(b.parameters(), lr=1e-2, betas=(0.9, 0.99), eps=1e-7)
    s1 = torch.optim.lr_scheduler.StepLR(ours, step_size=10, gamma=0.5)
    s2 = torch.optim.lr_scheduler.StepLR(ref, step_size=10, gamma=0.5)
    for x, y in batches(60):
        for net, opt, sched in ((a, ours, s1), (b, ref, s2)):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
            sched.step()
    assert max_rel_diff(a, b) < 1e-5


def test_sgd_genome_with_one_cycle_schedule_matches_hand_written_sgd() -> None:
    a, b = small_net(), small_net()
    T, W, peak = 40, 4, 0.05
    ours = EvolvedOptimizer(
        a.parameters(), library.genome("SGD"), lr=peak, total_steps=T, warmup_steps=W
    )
    ref = torch.optim.SGD(b.parameters(), lr=0.0)
    import math

    for k, (x, y) in enumerate(batches(T)):
        ref.param_groups[0]["lr"] = peak * (
            k / W if k < W else 0.5 * (1 + math.cos(math.pi * (k - W) / (T - W)))
        )
        for net, opt in ((a, ours), (b, ref)):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
    assert max_rel_diff(a, b) < 1e-5


def test_param_groups_equal_separate_optimizers() -> None:
    a, b = small_net(), small_net()
    pa = list(a.parameters())
    ours = EvolvedOptimizer(
        [{"params": pa[:2]}, {"params": pa[2:], "lr": 1e-3}],
        library.genome("Opt6"),
        lr=1e-2,
        total_steps=30,
    )
    pb = list(b.parameters())
    ref1 = EvolvedOptimizer(pb[:2], library.genome("Opt6"), lr=1e-2, total_steps=30)
    ref2 = EvolvedOptimizer(pb[2:], library.genome("Opt6"), lr=1e-3, total_steps=30)
    for x, y in batches(30):
        ours.zero_grad()
        nn.functional.cross_entropy(a(x), y).backward()
        ours.step()
        ref1.zero_grad()
        ref2.zero_grad()
        nn.functional.cross_entropy(b(x), y).backward()
        ref1.step()
        ref2.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


def test_closure_is_called_and_its_loss_returned() -> None:
    net = small_net()
    opt = Opt6(net.parameters(), lr=1e-2, total_steps=5)
    x, y = batches(1)[0]
    calls = []

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        calls.append(loss.item())
        return loss

    loss = opt.step(closure)
    assert calls and loss.item() == calls[0]


def test_parameters_without_gradients_are_left_alone() -> None:
    net = small_net()
    frozen = net[0].weight
    frozen.requires_grad_(False)
    before = frozen.clone()
    opt = create("Opt1", net.parameters(), lr=1e-2, total_steps=10)
    train(net, opt, batches(5))
    assert torch.equal(frozen, before)
    assert frozen not in opt.state
    # A parameter that gets a gradient later joins in with its own step count.
    frozen.requires_grad_(True)
    train(net, opt, batches(2))
    assert int(opt.state[frozen]["step"]) == 2
    assert int(opt.state[net[4].weight]["step"]) == 7


@pytest.mark.parametrize("name", ["Opt10", "Opt4", "A5", "AddSign-ld"])
def test_state_dict_resume_is_bit_identical(name: str) -> None:
    data = batches(40)
    full = small_net()
    opt = create(name, full.parameters(), lr=1e-2, total_steps=40, warmup_steps=4)
    train(full, opt, data)

    half = small_net()
    opt1 = create(name, half.parameters(), lr=1e-2, total_steps=40, warmup_steps=4)
    train(half, opt1, data[:20])
    saved_model = copy.deepcopy(half.state_dict())
    saved_opt = copy.deepcopy(opt1.state_dict())
    resumed = small_net(seed=123)
    resumed.load_state_dict(saved_model)
    opt2 = create(name, resumed.parameters(), lr=1e-2, total_steps=40, warmup_steps=4)
    opt2.load_state_dict(saved_opt)
    train(resumed, opt2, data[20:])
    for p, q in zip(full.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(p, q)


def test_resume_with_state_ops_and_dropout_is_bit_identical() -> None:
    genome = Genome(
        (
            Node("ema", ("g",)),
            Node("drop0.3", ("h0",)),
            Node("delta", ("h1",)),
            Node("runmax", ("s",)),
        ),
        Node("div", ("h2", "h3")),
        "momentum",
    )
    data = batches(20)
    full = small_net()
    train(full, EvolvedOptimizer(full.parameters(), genome, lr=1e-3, total_steps=20), data)
    half = small_net()
    opt1 = EvolvedOptimizer(half.parameters(), genome, lr=1e-3, total_steps=20)
    train(half, opt1, data[:10])
    assert set(opt1.state[half[0].weight]) == {"step", "s", "h0.ema", "h2.delta", "h3.runmax", "m"}
    resumed = copy.deepcopy(half)
    opt2 = EvolvedOptimizer(resumed.parameters(), genome, lr=1e-3, total_steps=20)
    opt2.load_state_dict(copy.deepcopy(opt1.state_dict()))
    train(resumed, opt2, data[10:])
    for p, q in zip(full.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(p, q)


def test_state_dict_of_another_genome_is_refused() -> None:
    net = small_net()
    opt = create("Opt6", net.parameters(), lr=1e-2, total_steps=10)
    train(net, opt, batches(1))
    other = create("Opt7", net.parameters(), lr=1e-2, total_steps=10)
    with pytest.raises(ValueError, match="different genome"):
        other.load_state_dict(opt.state_dict())


def test_only_the_state_the_genome_reads_is_kept() -> None:
    net = small_net()
    opt = create("Opt10", net.parameters(), lr=1e-2, total_steps=10)
    train(net, opt, batches(2))
    assert set(opt.state[net[4].weight]) == {"step", "m"}
    opt = create("Opt9", net.parameters(), lr=1e-2, total_steps=10)
    train(net, opt, batches(2))
    assert set(opt.state[net[4].weight]) == {"step", "s", "m"}  # qh_g2 reads s only


def test_bfloat16_parameters_train_close_to_float32() -> None:
    a = small_net()
    b = copy.deepcopy(a).to(torch.bfloat16)
    oa = A1(a.parameters(), lr=1e-2, total_steps=20)
    ob = A1(b.parameters(), lr=1e-2, total_steps=20)
    for x, y in batches(20):
        for net, opt, xx in ((a, oa, x), (b, ob, x.to(torch.bfloat16))):
            opt.zero_grad()
            nn.functional.cross_entropy(net(xx).float(), y).backward()
            opt.step()
    assert all(p.dtype == torch.bfloat16 for p in b.parameters())
    assert ob.state[b[4].weight]["v"].dtype == torch.float32
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert (p - q.float()).abs().max() < 0.05


def test_channels_last_parameters_match_contiguous() -> None:
    a = small_net()
    b = copy.deepcopy(a).to(memory_format=torch.channels_last)
    oa = create("Opt6", a.parameters(), lr=1e-2, total_steps=10)
    ob = create("Opt6", b.parameters(), lr=1e-2, total_steps=10)
    data = batches(10)
    train(a, oa, data)
    train(b, ob, [(x.to(memory_format=torch.channels_last), y) for x, y in data])
    assert max_rel_diff(b, a) < 1e-5


def test_past_total_steps_warns_and_stops_moving() -> None:
    net = small_net()
    opt = create("Adam", net.parameters(), lr=1e-2, total_steps=5)
    train(net, opt, batches(5))
    before = [p.clone() for p in net.parameters()]
    with pytest.warns(RuntimeWarning, match="past total_steps"):
        train(net, opt, batches(3))
    for p, q in zip(net.parameters(), before, strict=True):
        assert torch.equal(p, q)


def test_named_classes_use_their_learning_rate_factor() -> None:
    net = small_net()
    assert Opt6(net.parameters(), lr=1e-3, total_steps=10).defaults["schedule"] == "LR1"
    assert Opt10(net.parameters(), lr=1e-3, total_steps=10).defaults["schedule"] == "one_cycle"
    assert create("LR3", net.parameters(), lr=1e-3, total_steps=10).defaults["schedule"] == "LR3"
    assert (
        create("Opt6", net.parameters(), lr=1e-3, total_steps=10, schedule="constant").defaults[
            "schedule"
        ]
        == "constant"
    )
    assert {
        "Adam",
        "QHM",
        "PowerSign-ld",
        "AddSign-ld",
        "Opt1",
        "Opt10",
        "Opt41",
        "Opt101",
        "A1",
        "A5",
    } <= set(NAMES)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"lr": -1.0}, ValueError, "lr"),
        ({"lr": float("nan")}, ValueError, "lr"),
        ({"lr": "fast"}, TypeError, "lr"),
        ({"total_steps": 0}, ValueError, "total_steps"),
        ({"warmup_steps": 20}, ValueError, "exceed"),
        ({"schedule": "cosine"}, ValueError, "schedule"),
        ({"weight_decay": -0.1}, ValueError, "weight_decay"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, error: type, message: str) -> None:
    args = {"lr": 1e-3, "total_steps": 10, **kwargs}
    with pytest.raises(error, match=message):
        EvolvedOptimizer(small_net().parameters(), library.genome("Adam"), **args)


def test_unknown_named_optimizer_suggests_the_right_name() -> None:
    with pytest.raises(KeyError, match="Did you mean 'Opt6'"):
        create("opt6", small_net().parameters(), lr=1e-3, total_steps=10)


def test_not_a_genome_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="Genome"):
        EvolvedOptimizer(small_net().parameters(), "Adam", lr=1e-3, total_steps=10)  # type: ignore[arg-type]


@pytest.mark.cuda(reason="compares a CUDA run with the CPU run")
def test_cuda_matches_cpu() -> None:
    a = small_net()
    b = copy.deepcopy(a).cuda()
    oa = create("Opt6", a.parameters(), lr=1e-2, total_steps=10)
    ob = create("Opt6", b.parameters(), lr=1e-2, total_steps=10)
    data = batches(10)
    train(a, oa, data)
    train(b, ob, [(x.cuda(), y.cuda()) for x, y in data])
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.allclose(p, q.cpu(), rtol=1e-4, atol=1e-6)


def test_no_warning_within_total_steps() -> None:
    net = small_net()
    opt = create("Opt6", net.parameters(), lr=1e-2, total_steps=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train(net, opt, batches(5))


def test_sparse_and_complex_parameters_are_refused_clearly() -> None:
    emb = nn.Embedding(10, 3, sparse=True)
    opt = create("Adam", emb.parameters(), lr=1e-2, total_steps=5)
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="sparse"):
        opt.step()
    z = nn.Parameter(torch.zeros(3, dtype=torch.complex64))
    z.grad = torch.ones_like(z)
    with pytest.raises(RuntimeError, match="complex"):
        create("Adam", [z], lr=1e-2, total_steps=5).step()
