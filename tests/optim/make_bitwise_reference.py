"""Write tests/optim/bitwise_reference.json: SHA-256 digests of what every library genome computes.

    .venv/bin/python tests/optim/make_bitwise_reference.py

The file pins, for every named optimizer of the library, what must never change when the search
space grows (tests/optim/test_bitwise_reference.py compares against it). It was first written
before the extended space existed, for the paper's genomes (`PAPER_NAMES`); the extended
space's genomes (AdamW, Lion) were added once they existed, the paper's entries unchanged.

* its canonical hash and behaviour hash (stored search runs key on them), and digests of its
  JSON, its text forms and its standalone Python export;
* its compiled rule stepped on a fixed seeded gradient stream, in float32 and float64: the update
  program (no workspace), the weight-change program through `ScheduledRule.delta` with a
  workspace and one peak learning rate per row, and the same through the static path
  (`Workspace.bind_static` + `delta_static`, what a CUDA graph replays);
* the drop-in optimizer `optevo.optim.create(name, ...)` on a tiny model, both dtypes;
* the integrity check's twelve final losses;
* the paper space's random streams: proposals (SPEC 1.4) and mutations (SPEC 1.5) of a seed.

Tensor digests depend on the platform's floating-point kernels, so the file records the torch
version and machine it was made with; the test compares tensor digests only there (and always
compares the hashes that do not depend on it). Rerun this script only for a change that is
meant to alter results, and say so in the commit.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from optevo import library
from optevo.export import named_source
from optevo.fingerprint import behaviour_hash
from optevo.integrity import check
from optevo.optim import create
from optevo.scheduled import ScheduledRule
from optevo.space.genome import Genome
from optevo.space.ops import OpContext

PATH = Path(__file__).with_name("bitwise_reference.json")
SCHEMA = "optevo.bitwise_reference/1"

STEPS = 20
WARMUP = 3
ROWS = 2
SEGMENTS = (16, 8)
SIZE = sum(SEGMENTS)
PEAKS = (1e-2, 3e-3)  # one peak learning rate per row
SEED = 20_251_130
DTYPES = {"float32": torch.float32, "float64": torch.float64}
N_PROPOSALS = 60
N_MUTATIONS = 3  # per library genome


def platform_key() -> dict[str, str]:
    """Where tensor digests are valid: the torch version and the machine."""
    return {"torch": torch.__version__, "machine": platform.machine(), "system": platform.system()}


def _stream(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(gradients (STEPS, ROWS, SIZE), initial weights (ROWS, SIZE)): magnitudes over six
    decades, both signs, some exact zeros; drawn in float64 and rounded to `dtype`."""
    gen = torch.Generator().manual_seed(SEED)
    mag = 10.0 ** (-4.0 + 5.0 * torch.rand(STEPS, ROWS, SIZE, generator=gen, dtype=torch.float64))
    sign = torch.where(torch.rand(STEPS, ROWS, SIZE, generator=gen) < 0.5, -1.0, 1.0)
    g = mag * sign.double()
    g[::4, :, ::7] = 0.0
    w = torch.randn(ROWS, SIZE, generator=gen, dtype=torch.float64)
    return g.to(dtype), w.to(dtype)


def _update(h: Any, t: torch.Tensor) -> None:
    t = t.detach().contiguous().cpu()
    h.update(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(t.numpy().tobytes())


def rule_digest(genome: Genome, dtype: torch.dtype) -> str:
    """The compiled rule's update, weight change (workspace) and static weight change."""
    scheduled = ScheduledRule.create(genome, STEPS, WARMUP)
    rule = scheduled.rule
    grads, w0 = _stream(dtype)
    peak = torch.tensor(PEAKS, dtype=dtype).unsqueeze(1)
    h = hashlib.sha256()
    with torch.no_grad():
        # The update u alone, a fresh buffer per call.
        state = rule.init_state(w0)
        ctx = OpContext(generator=torch.Generator().manual_seed(1), segments=SEGMENTS)
        for k in range(STEPS):
            decays = [d[k] for d in scheduled.decays]
            _update(h, rule.update(grads[k], state, k, decays, w0, ctx))
        for name in sorted(state):
            _update(h, state[name])
        # The weight change with a workspace, weights moving.
        for static in (False, True):
            w = w0.clone()
            state = rule.init_state(w)
            ctx = OpContext(generator=torch.Generator().manual_seed(2), segments=SEGMENTS)
            workspace = scheduled.workspace(w)
            values = torch.zeros(rule.delta_program.n_step_values, dtype=dtype)
            if static:
                workspace.bind_static(values, peak)
            for k in range(STEPS):
                if static:
                    values.copy_(torch.tensor(scheduled.step_values(k), dtype=dtype))
                    delta = scheduled.delta_static(grads[k], state, workspace, w, ctx)
                else:
                    delta = scheduled.delta(grads[k], state, k, peak, w, ctx, workspace)
                w.add_(delta)
                _update(h, w)
            for name in sorted(state):
                _update(h, state[name])
    return h.hexdigest()


def optimizer_digest(name: str, dtype: torch.dtype) -> str:
    """`create(name, ...)` on a tiny two-layer model fed the seeded gradient stream."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    model = model.to(dtype)
    params = list(model.parameters())
    opt = create(name, params, lr=1e-2, total_steps=STEPS, warmup_steps=WARMUP, seed=3)
    gen = torch.Generator().manual_seed(SEED + 1)
    h = hashlib.sha256()
    for _ in range(STEPS):
        for p in params:
            p.grad = torch.randn(p.shape, generator=gen, dtype=torch.float64).to(dtype)
        opt.step()
        for p in params:
            _update(h, p)
    for p in params:
        for key in sorted(opt.state[p]):
            value = opt.state[p][key]
            if torch.is_tensor(value):
                _update(h, value)
    return h.hexdigest()


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def genome_entry(name: str, tensors: bool = True) -> dict[str, Any]:
    genome = library.genome(name)
    entry: dict[str, Any] = {
        "canonical_hash": genome.canonical_hash(),
        "behaviour_hash": behaviour_hash(genome),
        "json_sha": _sha(genome.to_json()),
        "str_sha": _sha(str(genome)),
        "equation_sha": _sha(genome.equation()),
        "export_sha": _sha(named_source(name)),
    }
    if tensors:
        entry["rule"] = {key: rule_digest(genome, dt) for key, dt in DTYPES.items()}
        entry["optimizer"] = {key: optimizer_digest(name, dt) for key, dt in DTYPES.items()}
        entry["integrity"] = _sha(repr(check(genome).final_losses))
    return entry


def proposals_digest() -> str:
    """The canonical forms of the paper space's random proposals from one seed (SPEC 1.4)."""
    rng = np.random.default_rng(SEED)
    forms = []
    for _ in range(N_PROPOSALS):
        g = Genome.propose(rng)
        forms.append("None" if g is None else g.to_json())
    return _sha("\n".join(forms))


def mutations_digest(names: tuple[str, ...]) -> str:
    """The children of SPEC 1.5 mutations of every library genome from one seed."""
    rng = np.random.default_rng(SEED + 2)
    forms = []
    for name in names:
        for _ in range(N_MUTATIONS):
            child = library.genome(name).propose_mutation(rng)
            forms.append("None" if child is None else child.to_json())
    return _sha("\n".join(forms))


def build(names: tuple[str, ...]) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "platform": platform_key(),
        "steps": STEPS,
        "genomes": {name: genome_entry(name) for name in names},
        "proposals": proposals_digest(),
        "mutations": mutations_digest(PAPER_NAMES),
    }


PAPER_NAMES: tuple[str, ...] = (
    "Adam", "RMSProp", "SGD", "Momentum", "Nesterov", "QHM", "PowerSign-ld", "AddSign-ld",
    "Opt1", "Opt2", "Opt3", "Opt4", "Opt41", "Opt42", "Opt5", "Opt6", "Opt61", "Opt7",
    "Opt71", "Opt8", "Opt81", "Opt9", "Opt91", "Opt10", "Opt101",
    "A1", "A2", "A3", "A4", "A5",
    "LR1", "LR2", "LR3", "LR4", "LR5", "LR6", "LR7", "LR8", "LR9",
)  # fmt: skip
"""The library's genomes of the paper's space (their mutations are pinned too)."""


def main() -> None:
    torch.set_num_threads(1)
    out = build(library.names())
    PATH.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(out['genomes'])} genomes to {PATH}", file=sys.stderr)


if __name__ == "__main__":
    main()
