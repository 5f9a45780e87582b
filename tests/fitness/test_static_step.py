"""The training step a CUDA graph captures: every per-step number read from device tensors
written before the step (`Workspace.bind_static`, `ScheduledRule.delta_static`,
`TrainSpec.cuda_graphs`). On the CPU it runs eagerly, and it must give the same bits as the
plain step, which reads Python numbers: rule by rule, and for whole packed runs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from helpers.fitness import packing_config, train_spec
from optevo import library
from optevo.fitness import fitness_many
from optevo.fitness.loop import train_packed
from optevo.fitness.spec import CopySpec, StopRule, TrainSpec
from optevo.scheduled import ScheduledRule
from optevo.search.candidates import random_genome
from optevo.space.genome import Genome
from optevo.space.ops import OpContext

SEGMENTS = (40, 24, 16)
N = sum(SEGMENTS)


def _random_with(pred, seed: int) -> Genome:
    rng = np.random.default_rng(seed)
    for _ in range(2000):
        genome = random_genome(rng)
        if pred(ScheduledRule.create(genome, 10)):
            return genome
    raise AssertionError("no random genome with that property in 2,000 draws")


def _genomes() -> list[Genome]:
    named = [library.genome(n) for n in ("Adam", "SGD", "Nesterov", "Opt6", "Opt10", "A5")]
    named.append(library.genome("Opt2"))
    rng = np.random.default_rng(11)
    randoms = [random_genome(rng) for _ in range(12)]
    randoms.append(_random_with(lambda r: r.rule.random, 1))  # a dropout in the rule
    randoms.append(_random_with(lambda r: len(r.rule.decays) > 0, 2))  # decay functions
    randoms.append(_random_with(lambda r: r.genome.flipped, 3))
    return named + randoms


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("schedule", ["one_cycle", "LR3", "constant"])
def test_delta_static_is_bit_identical_to_delta(dtype: torch.dtype, schedule: str) -> None:
    genomes = _genomes()
    assert any(ScheduledRule.create(g, 10).rule.random for g in genomes)
    assert {g.momentum for g in genomes} >= {"none", "momentum", "nesterov"}
    T = 40
    for genome in genomes:
        sched = ScheduledRule.create(genome, T, warmup_steps=4, hold_steps=3, schedule=schedule)
        program = sched.rule.delta_program
        gen = torch.Generator().manual_seed(0)
        g0 = torch.randn(3, N, generator=gen, dtype=dtype)
        w0 = torch.randn(3, N, generator=gen, dtype=dtype)
        peak = torch.tensor([[0.5], [0.01], [1e-4]], dtype=dtype)
        plain_state, static_state = sched.init_state(g0), sched.init_state(g0)
        plain_ws, static_ws = sched.workspace(g0), sched.workspace(g0)
        values = torch.zeros(program.n_step_values, dtype=dtype)
        static_ws.bind_static(values, peak)
        ctx_a = OpContext(torch.Generator().manual_seed(5), SEGMENTS)
        ctx_b = OpContext(torch.Generator().manual_seed(5), SEGMENTS)
        for k in [*range(T + 2), 0]:  # past the end too, and k=0 again (bias corrections)
            g = g0 * (1 + 0.1 * k) + 0.01 * k
            w = w0 - 0.001 * k
            a = sched.delta(g, plain_state, k, peak, w, ctx_a, plain_ws).clone()
            values.copy_(torch.tensor(sched.step_values(k), dtype=dtype))
            b = sched.delta_static(g, static_state, static_ws, w, ctx_b).clone()
            assert torch.equal(a, b), f"{genome} step {k}: {(a - b).abs().max()}"
            for name in plain_state:
                assert torch.equal(plain_state[name], static_state[name]), (genome, name, k)


def test_step_values_are_the_scalars_the_plain_step_reads() -> None:
    """Adam (SPEC: beta1 0.9, beta2 0.99): its two bias corrections and the lr factor."""
    sched = ScheduledRule.create(library.genome("Adam"), 100, 10)
    program = sched.rule.delta_program
    names = program.scalar_names
    values = sched.step_values(20)
    assert len(values) == program.n_step_values == len(names) + 1
    assert values[-1] == sched.lr_factor(20) == pytest.approx(sched.lr_factors[20])
    assert "neg_lr" in names
    biases = sorted(v for n, v in zip(names, values, strict=False) if n.startswith("bias"))
    assert biases == pytest.approx(sorted([1 - 0.9**21, 1 - 0.99**21]))


def test_bind_static_rejects_a_wrong_vector() -> None:
    sched = ScheduledRule.create(library.genome("Adam"), 10)
    ws = sched.workspace(torch.zeros(2, 5))
    n = sched.rule.delta_program.n_step_values
    with pytest.raises(ValueError, match=f"need {n} step values"):
        ws.bind_static(torch.zeros(n + 1), torch.ones(2, 1))
    with pytest.raises(ValueError, match="device/dtype"):
        ws.bind_static(torch.zeros(n, dtype=torch.float64), torch.ones(2, 1))
    with pytest.raises(ValueError, match="not bound"):
        sched.delta_static(torch.zeros(2, 5), sched.init_state(torch.zeros(2, 5)), ws)


def _spec(**kw) -> TrainSpec:
    return train_spec(**{"stop_rules": (StopRule(30, 0.3),), **kw})


@pytest.mark.slow  # real training, over 3 s
def test_packed_run_with_graph_step_equals_the_plain_run(digits) -> None:
    genomes = _genomes()[:4] + _genomes()[-3:]
    copies = [
        CopySpec(g, lr, seed, schedule)
        for i, g in enumerate(genomes)
        for lr, seed, schedule in [(0.01, i, None), (0.1, i + 100, "LR2")]
    ]
    plain = train_packed(copies, digits, _spec(), layout="packed")
    static = train_packed(copies, digits, _spec(cuda_graphs=True), layout="packed")
    statuses = {r.status for r in plain}
    assert "ok" in statuses and statuses - {"ok"}, statuses  # some copies retire early
    for a, b in zip(plain, static, strict=True):
        assert dataclasses.replace(a, seconds=0) == dataclasses.replace(b, seconds=0)


def test_fitness_many_with_graph_step_equals_without(digits) -> None:
    config = packing_config(layout="packed")
    cands = ["Adam", "SGD", "Opt6", random_genome(np.random.default_rng(4))]
    plain = fitness_many(cands, config, data=digits)
    graphs = fitness_many(cands, config.model_copy(update={"cuda_graphs": True}), data=digits)
    assert [r.status for r in plain] == [r.status for r in graphs]
    assert any(r.fitness is not None for r in plain)
    for a, b in zip(plain, graphs, strict=True):
        assert a.fitness == b.fitness and a.screen == b.screen and a.best_lr == b.best_lr


class _FakeGraph:
    def __init__(self, fn, backend: _FakeBackend) -> None:
        self.fn, self.backend = fn, backend

    def replay(self) -> None:
        self.backend.replays += 1
        self.fn()


class _FakeEvent:
    def __init__(self, backend: _FakeBackend) -> None:
        self.backend = backend

    def synchronize(self) -> None:
        self.backend.event_waits += 1


class _FakeBackend:
    """The CUDA calls of the graphed step, on a CPU: a "captured" step is recorded without
    running (as a capture does) and runs at each replay."""

    pin_memory = False

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.warm = self.captures = self.replays = self.event_waits = 0
        self.registered: list[torch.Generator] = []

    def record_event(self) -> _FakeEvent:
        return _FakeEvent(self)

    def side_stream(self, fn, device: str) -> None:
        self.warm += 1
        fn()

    def capture(self, fn, generators) -> _FakeGraph:
        self.captures += 1
        if self.fail:
            raise RuntimeError("operation not permitted when stream is capturing")
        self.registered += generators
        return _FakeGraph(fn, self)

    def synchronize(self, device: str) -> None:
        pass


def _graph_copies() -> list[CopySpec]:
    genomes = [library.genome("Adam"), _random_with(lambda r: r.rule.random, 1)]
    genomes.append(library.genome("Opt6"))
    return [CopySpec(g, lr, i) for i, g in enumerate(genomes) for lr in (0.1, 0.01)]


def test_graph_control_flow_warms_up_captures_once_and_replays(digits, monkeypatch) -> None:
    """The CUDA path's bookkeeping, run on the CPU through the backend seam: 3 warm-up steps,
    one capture that registers every dropout generator (the model's, one per copy, and the
    rule's), a replay per later step, the pinned value buffers reused in turn; and the same
    numbers as the plain run."""
    import optevo.fitness.packed as packed

    copies = _graph_copies()
    spec = _spec(stop_rules=())
    plain = train_packed(copies, digits, spec, layout="packed")
    backend = _FakeBackend()
    monkeypatch.setattr(packed, "graph_backend", lambda device: backend)
    graphed = train_packed(copies, digits, _spec(stop_rules=(), cuda_graphs=True), "packed")
    assert (backend.warm, backend.captures) == (packed.GRAPH_WARMUP_STEPS, 1)
    assert backend.replays == spec.steps - packed.GRAPH_WARMUP_STEPS
    assert backend.event_waits == spec.steps - packed.STEP_VALUE_BUFFERS
    assert len(backend.registered) == len(copies) + 1  # 6 model copies + the rule's dropout
    assert all(g.device.type == "cpu" for g in backend.registered)
    for a, b in zip(plain, graphed, strict=True):
        assert dataclasses.replace(a, seconds=0) == dataclasses.replace(b, seconds=0)


def test_a_failed_capture_warns_and_goes_on_eagerly(digits, monkeypatch) -> None:
    import optevo.fitness.packed as packed

    copies = _graph_copies()
    plain = train_packed(copies, digits, _spec(), layout="packed")
    backend = _FakeBackend(fail=True)
    monkeypatch.setattr(packed, "graph_backend", lambda device: backend)
    with pytest.warns(RuntimeWarning, match="capture failed .*not permitted"):
        graphed = train_packed(copies, digits, _spec(cuda_graphs=True), layout="packed")
    assert backend.captures == 1 and backend.replays == 0
    for a, b in zip(plain, graphed, strict=True):
        assert dataclasses.replace(a, seconds=0) == dataclasses.replace(b, seconds=0)


@pytest.mark.cuda(reason="CUDA graphs need a CUDA device")
def test_cuda_graph_replay_equals_the_eager_step(digits) -> None:
    """On CUDA: the captured-and-replayed run and the eager run of the same fixed-buffer step
    (same kernels, same order) give the same curves; the graph is really captured."""
    genomes = [library.genome("Adam"), _random_with(lambda r: r.rule.random, 1)]
    copies = [CopySpec(g, lr, i) for i, g in enumerate(genomes) for lr in (0.05, 0.005)]
    spec = _spec(device="cuda", total_steps=60, stop_rules=())
    eager = train_packed(copies, digits, spec, layout="packed")
    with torch.cuda.device(0):
        graphed = train_packed(
            copies, digits, dataclasses.replace(spec, cuda_graphs=True), layout="packed"
        )
    for a, b in zip(eager, graphed, strict=True):
        assert a.status == b.status
        np.testing.assert_allclose(a.train_loss, b.train_loss, rtol=1e-4)
        np.testing.assert_allclose(a.val_acc, b.val_acc, atol=0.02)
