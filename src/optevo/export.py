"""A genome as one standalone Python file: a `torch.optim.Optimizer` that needs only torch.

`python_source(genome, ...)` writes the module; `optevo export NAME --format python -o f.py`
calls it. The generated class steps as `optevo.optim.EvolvedOptimizer` does (to rounding) and
keeps its conventions (constructor arguments, param groups, closures, `state_dict` with the
same state names and step count, so a state dict of either loads into the other), but it is
written for a reader: the update is the genome's equation as tensor code, one line per active
node named as in the equation (`h0`, `h1`, ..., `u`), the operands named as SPEC 1.1 names
them (`g`, `v`, `qh_g`, ...), and only the helpers the genome uses are written out (its decay
functions d1(t), d2(t), ..., the schedules they read, its learning-rate factor, dropout).
A genome of the extended space carries its constants into the file: its EMA rates, eps and
quasi-hyperbolic weights are written where the paper's would be, and its weight decay wd acts
beside the step as in `optevo.compile` (`w <- w - |lr_k| * wd * w`).

The code of each operation below repeats its definition in `optevo.space.ops` (the same torch
calls on the same values); tests/optim/test_export_python.py checks every named optimizer, random
genomes, every schedule and learning-rate factor against optevo's own implementation.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable
from pathlib import Path

from optevo.compile import compile_genome
from optevo.schedules import BASE_SCHEDULE, LR_SCHEDULES
from optevo.space.decay import DecayGenome
from optevo.space.genes import EMA_BETA, QH_WEIGHT
from optevo.space.genome import Genome
from optevo.space.graph import Node, parse_hidden
from optevo.space.ops import (
    AGG_BETAS,
    EMA_RATES,
    EPS,
    OPERATIONS,
    QH_MIX,
    STATE_EMA_RATE,
    WEIGHT_SCALES,
)

# --------------------------------------------------------------------------------------------
# Operations as code: each row's `code` template (`optevo.space.ops.Operation`).
# --------------------------------------------------------------------------------------------

OP_CODE: dict[str, str] = {
    name: op.code for name, op in OPERATIONS.items() if op.code is not None
}
"""Every stateless operation (update and decay), from its row of the operation table
(`Operation.code`); the state-holding ones (ema, delta, runmax) are written by `_state_op`."""

# The decay schedules of SPEC 2 (functions of a float64 tensor t and the run length T), as in
# `optevo.space.ops.SCHEDULES`.
SCHEDULE_CODE: dict[str, list[str]] = {
    "lin_dec": ["return 1.0 - t / T"],
    "lin_inc": ["return t / T"],
    "cos_dec": ["return 0.5 * (1.0 + torch.cos(math.pi * t / T))"],
    "cos_inc": ["return 0.5 * (1.0 - torch.cos(math.pi * t / T))"],
    "cyc_cos_dec": ["return 0.5 * (1.0 + torch.cos(2.0 * math.pi * t / T))"],
    "cyc_cos_inc": ["return 0.5 * (1.0 - torch.cos(2.0 * math.pi * t / T))"],
    "cos_dec_restart": [
        "r = torch.remainder(2 * t, T)",
        "return 0.5 * (1.0 + torch.cos(math.pi * (r / T)))",
    ],
    "cos_inc_restart": [
        "r = torch.remainder(2 * t, T)",
        "return 0.5 * (1.0 - torch.cos(math.pi * (r / T)))",
    ],
    "lin_dec_restart": ["return 1.0 - torch.remainder(2 * t, T) / T"],
    "lin_inc_restart": ["return torch.remainder(2 * t, T) / T"],
    "exp_dec": ["return torch.pow(torch.tensor(0.01, dtype=t.dtype), t / T)"],
    "exp_inc": ["return 1.0 - torch.pow(torch.tensor(0.01, dtype=t.dtype), t / T)"],
    "demon_dec": ["b = 0.95 * (1.0 - (t + 1.0) / T)", "return b / (0.05 + b)"],
    "demon_inc": ["return 0.95 - demon_dec(t, T)"],
}

# The learning-rate factors LR1-LR9 of SPEC 7.3, as in `optevo.schedules`.
LR_CODE: dict[str, tuple[str, ...]] = {
    "LR1": ("torch.erfc(torch.erfc(cos_inc(t, T))) / dtanh(cos_inc_restart(t, T))",),
    "LR2": (
        "torch.erfc(torch.erfc(cos_inc(t, T)))",
        " / (dtanh(cos_inc_restart(t, T)) * dtanh(cos_inc(t, T)))",
    ),
    "LR3": (
        "torch.atan(lin_inc(t, T))",
        " / (dtanh(lin_inc_restart(t, T)) * torch.sqrt(dsoft(demon_inc_prime(t, T))))",
    ),
    "LR4": ("torch.sigmoid(lin_inc(t, T)) ** 2 / torch.sigmoid(2.0 * softsign(lin_dec(t, T)))",),
    "LR5": ("1.0 / torch.sqrt(torch.erf(exp_dec(t, T)))",),
    "LR6": (
        "torch.atan(lin_inc(t, T))",
        " * torch.erfc(cyc_cos_inc(t, T))",
        " / torch.sqrt(dsoft(cyc_cos_inc(t, T)))",
    ),
    "LR7": ("1.0 / torch.sqrt(dsoft(lin_inc_restart(t, T)))",),
    "LR8": ("1.0 / (torch.sqrt(softsign(torch.atan(exp_inc(t, T)))) + EPS)",),
    "LR9": ("torch.tanh(torch.maximum(lin_inc_restart(t, T), cyc_cos_inc(t, T)))",),
}
"""The expression of each factor, in pieces a line each where one line would be too long."""

# Module-level helpers of the generated file: name -> its source. Only those the file's code
# calls are written (see `_helpers`).
_HELPERS: dict[str, str] = {
    "one_cycle": '''
def one_cycle(k: int, T: int, W: int, H: int) -> float:
    """The base schedule (SPEC 4), a factor of the peak learning rate: linear warm-up from 0
    over W steps, 1 for H steps, then a cosine decay towards 0 at step T."""
    if k < W:
        return k / W
    if k < W + H:
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * (k - W - H) / (T - W - H)))
''',
    "cycled_momentum": '''
def cycled_momentum(k: int, T: int, W: int, H: int) -> float:
    """mu cycled opposite to the learning rate (SPEC 1): 0.95 -> 0.85 over the warm-up,
    0.85 during the hold, 0.85 -> 0.95 over the rest (both ends of each ramp included)."""
    if k < W:
        return linspace(0.95, 0.85, W, k)
    if k < W + H:
        return 0.85
    return linspace(0.85, 0.95, T - W - H, k - W - H)
''',
    "linspace": '''
def linspace(a: float, b: float, n: int, i: int) -> float:
    """Element i of numpy.linspace(a, b, n)."""
    if n == 1:
        return a
    return b if i == n - 1 else i * ((b - a) / (n - 1)) + a
''',
    "drop": '''
def drop(x: torch.Tensor, p: float, noise: torch.Tensor) -> torch.Tensor:
    """Dropout: 0 where the uniform draw `noise` is below p, x / (1 - p) elsewhere."""
    return torch.where(noise >= p, x / (1.0 - p), 0.0)
''',
    "clip_by_norm": '''
def clip_by_norm(x: torch.Tensor) -> torch.Tensor:
    """x / max(1, ||x||), the L2 norm taken over the whole parameter tensor."""
    return x / torch.linalg.vector_norm(x).clamp(min=1.0)
''',
    "compute_dtype": '''
def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float16/bfloat16 parameters are updated (and keep their state) in float32."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
''',
    "dtanh": """
def dtanh(x: torch.Tensor) -> torch.Tensor:
    return 1.0 - torch.tanh(x) ** 2
""",
    "dsoft": """
def dsoft(x: torch.Tensor) -> torch.Tensor:
    return 1.0 / (1.0 + torch.abs(x))
""",
    "softsign": """
def softsign(x: torch.Tensor) -> torch.Tensor:
    return x / (1.0 + torch.abs(x))
""",
    "demon_inc_prime": """
def demon_inc_prime(t: torch.Tensor, T: int) -> torch.Tensor:
    b = 0.95 * (1.0 - (t + 1.0) / T)
    return (0.95 - b) / (0.05 + b)
""",
}
for _name, _body in SCHEDULE_CODE.items():
    _HELPERS[_name] = f"\ndef {_name}(t: torch.Tensor, T: int) -> torch.Tensor:\n" + "".join(
        f"    {line}\n" for line in _body
    )

_DROP_PREFIX = "drop"
_STEP_SEED = "(self.seed * 1_000_003 + k) % (2**63 - 1)"  # as optevo.optim.evolved._step_seed


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def class_name(name: str) -> str:
    """A Python class name from an optimizer's name ("PowerSign-ld" -> "PowerSign_ld")."""
    out = re.sub(r"\W", "_", name)
    if not out or out[0].isdigit() or keyword.iskeyword(out):
        out = "Opt_" + out
    return out


def python_source(
    genome: Genome,
    name: str | None = None,
    schedule: str = "one_cycle",
    description: str | None = None,
) -> str:
    """The source of a standalone module holding one `torch.optim.Optimizer` subclass that
    steps with `genome`'s update rule.

    `name` is the class name (made a valid identifier; default `Evolved<hash prefix>`),
    `schedule` the genome's learning-rate schedule ("one_cycle" or "LR1".."LR9"; the class
    also accepts "constant", as EvolvedOptimizer does), `description` a line for the
    docstring.
    """
    if schedule != "one_cycle" and schedule not in LR_SCHEDULES:
        raise ValueError(
            f"unknown schedule {schedule!r}; a genome's schedule is one_cycle or one of "
            f"{', '.join(LR_SCHEDULES)}"
        )
    return _Writer(genome, name, schedule, description).source()


def named_source(name: str) -> str:
    """`python_source` for the named optimizer `name` of the library (its schedule and
    description included)."""
    from optevo import library

    entry = library.get(name)
    description = entry.description
    if not description.startswith(f"{name}:"):
        description = f"{name}: {description}"
    return python_source(entry.genome, name, entry.lr_schedule or BASE_SCHEDULE, description)


def write_python(path: Path, source: str) -> None:
    """Write `source` to `path` (UTF-8)."""
    path.write_text(source, encoding="utf-8")


# --------------------------------------------------------------------------------------------
# The writer
# --------------------------------------------------------------------------------------------


def _is_atom(code: str) -> bool:
    """Whether `code` needs no parentheses as an operand: a name, a number, a subscript or
    one call (its first opening parenthesis closed by its last character)."""
    if re.fullmatch(r"[A-Za-z_][\w.]*(\[[^\[\]]*\])?|\d[\w.]*", code):
        return True
    m = re.match(r"[A-Za-z_][\w.]*\(", code)
    if m is None or not code.endswith(")"):
        return False
    depth = 0
    for i, ch in enumerate(code[m.end() - 1 :], start=m.end() - 1):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            return i == len(code) - 1
    return False


def _op_code(op: str, args: list[str], drop_index: int = 0) -> str:
    fields = {"i": str(drop_index)}
    for key, value in zip("xy", args, strict=False):
        fields[key] = value
        fields[key.upper()] = value if _is_atom(value) else f"({value})"
    return OP_CODE[op].format(**fields)


def _op_text(op: str, args: list[tuple[str, int]]) -> str:
    """The readable form of one node (as `Genome.equation` spells it) over its inputs'
    texts, each with how tightly it binds (3 an atom, 2 a product)."""
    fields: dict[str, str] = {}
    for key, (text, prec) in zip("ab", args, strict=False):
        fields[key] = text
        for level in (1, 2, 3):
            fields[f"{key}{level}"] = text if prec >= level else f"({text})"
        fields[key.upper()] = f"|{text}|"
    return OPERATIONS[op].text.format(**fields)


def _called_helpers(code: str) -> set[str]:
    """Names called in `code` (`name(`) that are helpers of the generated file."""
    return {m for m in re.findall(r"(?<![\w.])([A-Za-z_]\w*)\(", code) if m in _HELPERS}


class _Writer:
    def __init__(
        self, genome: Genome, name: str | None, schedule: str, description: str | None
    ) -> None:
        self.genome = genome
        self.rule = compile_genome(genome)
        self.hash = genome.canonical_hash()
        self.name = class_name(name) if name else f"Evolved{self.hash[:12]}"
        self.schedule = schedule
        self.description = description or f"The optimizer of genome {self.hash[:12]}."
        self.decays = genome.decay_functions()
        self.decay_names = {d: f"d{i + 1}" for i, d in enumerate(self.decays)}
        self.emas = [n for n in self.rule.state_names if n in EMA_RATES]
        self.rates = {ema: genome.constant(beta) for ema, beta in EMA_BETA.items()}
        self.eps = genome.constant("eps")
        self.wd = genome.constant("wd")
        self.momentum = genome.momentum != "none"
        self.drops = 0  # dropout operations in the equation (counted while writing it)

    # -- the whole file -------------------------------------------------------------------

    def source(self) -> str:
        equation = self._equation_lines()  # counts the dropout operations first
        methods = [
            self._init(),
            self._step(),
            self._schedules(),
            self._dropout_noise() if self.drops else [],
            self._init_state(),
            self._load_state_dict(),
            self._add_param_group(),
            self._getstate() if self.drops else [],
            self._weight_change(equation),
        ]
        cls = "\n".join(self._class_header() + [line for m in methods for line in m])
        schedules = [self._lr_factor()] if self.schedule != "one_cycle" else []
        schedules += [self._decay_function(d) for d in self.decays]
        names = _helper_names(cls + "".join(schedules))
        helpers = [_HELPERS[n] for n in names]
        code = cls + "".join(schedules) + "".join(helpers)
        out = [self._module_doc(), _IMPORTS, *self._constants(code), "\n\n", cls, "\n"]
        if schedules:
            out += [_section("schedules"), "\n".join(schedules)]
        out += [_section("operations and helpers"), "\n".join(helpers)]
        return re.sub(r"\n{4,}", "\n\n\n", "".join(out)).rstrip() + "\n"

    def _module_doc(self) -> str:
        lines = [
            self.description,
            "",
            "A standalone torch.optim.Optimizer exported by optevo (`optevo export --format",
            "python`): it needs only torch and steps as optevo's EvolvedOptimizer does with",
            f"this genome (hash {self.hash[:16]}...), to floating-point rounding.",
            "",
            f"    u = {self.genome.equation()}",
            "",
            "Use it as any torch optimizer (lr is the peak learning rate of the schedule):",
            "",
            f"    opt = {self.name}(model.parameters(), lr=1e-3, total_steps=10_000,",
            "    " + " " * len(f"opt = {self.name}(") + "warmup_steps=500)",
            "    for x, y in data:",
            "        opt.zero_grad()",
            "        loss_fn(model(x), y).backward()",
            "        opt.step()",
        ]
        return _docstring(lines, indent="")

    def _constants(self, code: str) -> list[str]:
        out = [
            f'\nGENOME_HASH = "{self.hash}"\n',
            f'SCHEDULES = ("{self.schedule}", "constant")  # the genome\'s, or lr left to you\n',
            f"STATE = {_tuple(self.rule.state_names)}  # tensors kept per parameter\n",
        ]
        if self.drops:
            out.append(f"DROPOUT_DRAWS = {self.drops}  # dropout operations in the equation\n")
        if re.search(r"\bEPS\b", code):
            out.append(f"EPS = {_number(self.eps)}\n")
        if self.wd:
            out.append(f"WEIGHT_DECAY = {self.wd!r}  # the genome's decoupled weight decay wd\n")
        return out

    # -- the class ------------------------------------------------------------------------

    def _class_header(self) -> list[str]:
        g = self.genome
        lines = [self.description, "", "The update u of each parameter at step k (t = k):", ""]
        lines += [f"    u = {g.equation()}"]
        lines += [f"    {self.decay_names[d]}(t) = {d}" for d in self.decays]
        lines += ["", "LaTeX:", ""]
        lines += [f"    {part}" for part in _latex_parts(g)]
        lines += ["", *self._weight_step_doc(), "", *self._operands_doc(), "", *self._args_doc()]
        header = f"class {self.name}(torch.optim.Optimizer):"
        return [header, *_docstring(lines, indent="    ").rstrip("\n").splitlines()]

    def _operands_doc(self) -> list[str]:
        g = self.genome
        used = {r for n in g.active_names() for r in g.node(n).inputs if parse_hidden(r) is None}
        used |= {QH_MIX[r][2] for r in used if r in QH_MIX}  # qh_g reads v
        docs = dict.fromkeys(self._operand_doc(r) for r in _OPERAND_ORDER if r in used)
        lines = ["Operands:", *(f"    {d}" for d in docs)]
        if any("EPS" in OP_CODE.get(op, "") for op in self._ops()):
            lines.append(f"    eps = {_number(self.eps)}")
        if self.genome.constants:
            lines += ["", f"Constants of the genome: {self.genome.constants.items_text()}"]
        lines += ["", "State per parameter (self.state[p]): step, the step count k"]
        lines += [f"    {_state_doc(name)}" for name in self.rule.state_names]
        return lines

    def _operand_doc(self, ref: str) -> str:
        """The line of `_OPERAND_DOC` for `ref`, with this genome's constants."""
        values = {f"rate_{ema}": repr(rate) for ema, rate in self.rates.items()}
        for operand, gene in QH_WEIGHT.items():
            mix = self.genome.constant(gene)
            values[f"mix_{operand}"] = repr(mix)
            values[f"rest_{operand}"] = repr(1.0 - mix)
        values["beta_dir"] = repr(self.genome.constant("beta_dir"))
        return _OPERAND_DOC[ref].format(**values)

    def _ops(self) -> set[str]:
        g = self.genome
        return {g.node(n).op for n in g.active_names()}

    def _weight_step_doc(self) -> list[str]:
        kind = self.genome.momentum
        step = {
            "none": "w <- w - lr_k * u",
            "momentum": "m <- mu_k * m - lr_k * u; w <- w + m",
            "nesterov": "m <- mu_k * m - lr_k * u; w <- w + mu_k * m - lr_k * u",
        }[kind]
        factor = "" if self.schedule == "one_cycle" else f" * {self.schedule}(k)"
        lines = [f"Momentum type {kind}: {step},", f"where lr_k = lr * one_cycle(k){factor}"]
        lines[-1] += ", mu_k the momentum coefficient." if self.momentum else "."
        if self.wd:
            lines.append(
                f"Then the genome's decoupled weight decay: w <- w - lr_k * {self.wd!r} * w."
            )
        if self.genome.flipped:
            lines.append("The genome is flipped: u is the negated value of its graph.")
        return lines

    def _args_doc(self) -> list[str]:
        lines = [
            "Args:",
            "    params: parameters or param groups, as for any torch optimizer.",
            "    lr: the peak learning rate (the learning rate itself with schedule='constant').",
            "    total_steps: T, the length of the run in step() calls.",
            "    warmup_steps, hold_steps: W and H of the one-cycle schedule.",
            f"    schedule: {self.schedule!r} (the genome's) or 'constant' (the learning rate is",
            "        left to you and torch.optim.lr_scheduler, which set group['lr']).",
            "    weight_decay: decoupled weight decay, w <- w - lr_k * weight_decay * w.",
        ]
        if self.wd:
            lines.append(f"        (On top of the genome's own, wd = {self.wd!r}.)")
        if self.momentum:
            lines += [
                "    momentum: mu; None: cycled 0.95 -> 0.85 -> 0.95 against the learning rate",
                "        (0.9 with schedule='constant').",
            ]
        if self.drops:
            lines += [
                "    seed: seeds the dropout draws (a generator reseeded from (seed, k) at every",
                "        step, so a run resumed from a state dict continues identically).",
            ]
        held = ["mu"] if self.momentum else []
        held += ["the decay functions"] if self.decays else []
        lines += ["", "Past total_steps the scheduled learning rate is 0 (with a RuntimeWarning)"]
        if held:
            lines[-1] += ";"
            lines.append(f"{' and '.join(held)} hold their value at T - 1.")
        else:
            lines[-1] += "."
        return lines

    def _init(self) -> list[str]:
        args = [
            "params",
            "lr: float",
            "total_steps: int",
            "warmup_steps: int = 0",
            "hold_steps: int = 0",
            f'schedule: str = "{self.schedule}"',
            "weight_decay: float = 0.0",
        ]
        args += ["momentum: float | None = None"] if self.momentum else []
        args += ["seed: int = 0"] if self.drops else []
        keys = ["lr", "weight_decay", "total_steps", "warmup_steps", "hold_steps", "schedule"]
        keys += ["momentum"] if self.momentum else []
        lines = ["", "    def __init__(", "        self,", *(f"        {a}," for a in args)]
        lines.append("    ) -> None:")
        lines += ["        defaults = {", *(f'            "{k}": {k},' for k in keys)]
        if not self.momentum:  # EvolvedOptimizer's groups carry it: their state dicts match
            lines.append('            "momentum": None,  # unused: this genome has no momentum')
        lines += ['            "genome_hash": GENOME_HASH,', "        }"]
        lines += ["        super().__init__(params, defaults)"]
        lines += ["        self.seed = int(seed)"] if self.drops else []
        return lines

    def _step(self) -> list[str]:
        call = ["p.grad.to(dtype)", *(["p.to(dtype)"] if self.rule.needs_weight else [])]
        call += ["state", "k", *self._scalar_names()]
        call += ["noise[p]"] if self.drops else []
        lines = [
            "",
            "    @torch.no_grad()",
            "    def step(self, closure=None):",
            '        """One update of every parameter that has a gradient; returns the',
            '        closure\'s loss."""',
            "        loss = None",
            "        if closure is not None:",
            "            with torch.enable_grad():",
            "                loss = closure()",
            "        for group in self.param_groups:",
            '            params = [p for p in group["params"] if p.grad is not None]',
            "            for p in params:",
            "                if p.grad.is_sparse or p.is_complex():",
            '                    raise RuntimeError("dense real parameters and gradients only")',
            "                if not self.state[p]:",
            "                    self._init_state(p)",
        ]
        lines += ["            noise = self._dropout_noise(params)"] if self.drops else []
        lines += [
            "            for p in params:",
            "                state = self.state[p]",
            '                k = int(state["step"])',
            f"                {', '.join(self._scalar_names())} = self._schedules(group, k)",
            "                dtype = compute_dtype(p.dtype)",
            f"                delta = self._weight_change({', '.join(call)})",
            '                if group["weight_decay"] != 0 and lr != 0:',
            '                    p.mul_(1.0 - lr * group["weight_decay"])',
            "                p.add_(delta.to(p.dtype))",
            "                # A new tensor: EvolvedOptimizer's state dicts share one among",
            "                # parameters stepped together.",
            '                state["step"] = state["step"] + 1',
            "        return loss",
        ]
        return lines

    def _scalar_names(self) -> list[str]:
        """What `_schedules` returns: the learning rate, mu, the decay values."""
        return ["lr", *(["mu"] if self.momentum else []), *(["decays"] if self.decays else [])]

    def _schedules(self) -> list[str]:
        factor = "one_cycle(k, T, W, H)"
        if self.schedule != "one_cycle":
            factor += " * lr_factor(k, T)"
        what = {
            "lr": "the learning rate",
            "mu": "the momentum coefficient",
            "decays": "the decay functions' values",
        }
        parts = [what[n] for n in self._scalar_names()]
        doc = (", ".join(parts[:-1]) + " and " if len(parts) > 1 else "") + parts[-1]
        lines = [
            "",
            "    def _schedules(self, group, k):",
            f'        """{doc[0].upper() + doc[1:]} at step k."""',
            '        T, W, H = group["total_steps"], group["warmup_steps"], group["hold_steps"]',
            '        constant = group["schedule"] == "constant"',
            "        if k >= T:",
            "            warnings.warn(",
            f'                f"{self.name} stepped past total_steps={{T}}: scheduled learning "',
            '                "rates stay at 0 and decay functions hold their last value",',
            "                RuntimeWarning,",
            "                stacklevel=3,",
            "            )",
            "            factor = 1.0 if constant else 0.0",
            "        else:",
            f"            factor = 1.0 if constant else {factor}",
            '        lr = float(group["lr"]) * factor',
        ]
        if self.momentum or self.decays:
            lines.append("        i = min(k, T - 1)  # past the end: the values at T - 1")
        if self.momentum:
            lines += [
                '        mu = group["momentum"]',
                "        if mu is None:",
                "            mu = 0.9 if constant else cycled_momentum(i, T, W, H)",
            ]
        if self.decays:
            lines.append("        t = torch.tensor(float(i), dtype=torch.float64)")
            values = ", ".join(f"float({n}(t, T))" for n in self.decay_names.values())
            comma = "," if len(self.decays) == 1 else ""
            lines.append(f"        decays = ({values}{comma})")
        lines.append(f"        return {', '.join(self._scalar_names())}")
        return lines

    def _dropout_noise(self) -> list[str]:
        return [
            "",
            "    def _dropout_noise(self, params):",
            '        """The uniform draws of the dropout operations: per parameter, one tensor',
            "        per drop() of the equation. As optevo's EvolvedOptimizer draws them: the",
            "        parameters that share device, dtype and step count k draw together from a",
            "        generator seeded with (seed, k), one vector over all of them (in order) per",
            '        drop()."""',
            "        buckets = {}",
            "        for p in params:",
            '            key = (p.device, p.dtype, int(self.state[p]["step"]))',
            "            buckets.setdefault(key, []).append(p)",
            "        noise = {}",
            "        for (device, dtype, k), ps in buckets.items():",
            "            generator = torch.Generator(device=device)",
            f"            generator.manual_seed({_STEP_SEED})",
            "            sizes = [p.numel() for p in ps]",
            "            n, dtype = sum(sizes), compute_dtype(dtype)",
            "            draws = [",
            "                torch.rand(n, generator=generator, dtype=dtype, device=device)"
            ".split(sizes)",
            "                for _ in range(DROPOUT_DRAWS)",
            "            ]",
            "            for i, p in enumerate(ps):",
            "                noise[p] = [draw[i].view(p.shape) for draw in draws]",
            "        return noise",
        ]

    def _init_state(self) -> list[str]:
        return [
            "",
            "    def _init_state(self, p):",
            "        state = self.state[p]",
            '        state["step"] = torch.tensor(0.0)',
            "        dtype = compute_dtype(p.dtype)",
            "        for name in STATE:",
            "            state[name] = torch.zeros(p.shape, dtype=dtype, device=p.device)",
        ]

    def _load_state_dict(self) -> list[str]:
        return [
            "",
            "    def load_state_dict(self, state_dict):",
            '        """Load a state dict of this class, or of optevo\'s EvolvedOptimizer with',
            '        this genome (the same state)."""',
            '        groups = state_dict["param_groups"]',
            '        if any(g.get("genome_hash") != GENOME_HASH for g in groups):',
            '            raise ValueError("this state dict was saved for another genome")',
            "        super().load_state_dict(state_dict)",
            "        # torch casts loaded state to its parameter's dtype; float16/bfloat16",
            "        # parameters keep float32 state, so put the saved values back.",
            '        saved = [i for g in groups for i in g["params"]]',
            '        params = [p for g in self.param_groups for p in g["params"]]',
            "        for i, p in zip(saved, params):",
            "            if compute_dtype(p.dtype) != p.dtype:",
            '                for name, value in state_dict["state"].get(i, {}).items():',
            '                    if name != "step":',
            "                        self.state[p][name] = value.to(p.device, torch.float32)",
        ]

    def _add_param_group(self) -> list[str]:
        lines = [
            "",
            "    def add_param_group(self, param_group):",
            "        group = {**self.defaults, **param_group}",
            '        T, W, H = group["total_steps"], group["warmup_steps"], group["hold_steps"]',
            '        if not (group["lr"] >= 0 and group["weight_decay"] >= 0):',
            '            raise ValueError("lr and weight_decay must be >= 0")',
            "        if not (T >= 1 and W >= 0 and H >= 0 and W + H <= T):",
            '            raise ValueError("steps: need T >= 1, W >= 0, H >= 0 and W + H <= T")',
            '        if group["schedule"] not in SCHEDULES:',
            '            raise ValueError(f"schedule must be one of {SCHEDULES}")',
        ]
        if self.momentum:
            lines += [
                '        if group["momentum"] is not None and not 0 <= group["momentum"] < 1:',
                '            raise ValueError("momentum must be None or in [0, 1)")',
            ]
        return [*lines, "        super().add_param_group(param_group)"]

    def _getstate(self) -> list[str]:
        return [
            "",
            "    def __getstate__(self):  # torch keeps defaults, state and param_groups only",
            '        return {**super().__getstate__(), "seed": self.seed}',
        ]

    # -- the update -----------------------------------------------------------------------

    def _weight_change(self, equation: list[str]) -> list[str]:
        args = ["g", *(["w"] if self.rule.needs_weight else []), "state", "k"]
        args += self._scalar_names() + (["noise"] if self.drops else [])
        lines = [
            "",
            "    @staticmethod",
            f"    def _weight_change({', '.join(args)}):",
            '        """The change of the weights at step k: the genome\'s equation, then its',
            '        momentum type. Advances the state in place."""',
        ]
        if self.decays:
            names = ", ".join(self.decay_names.values())
            target = f"({names},)" if len(self.decays) == 1 else names
            lines.append(f"        {target} = decays")
        return lines + [f"        {line}" if line else "" for line in equation]

    def _equation_lines(self) -> list[str]:
        g = self.genome
        used = {r for n in g.active_names() for r in g.node(n).inputs if parse_hidden(r) is None}
        lines = self._operand_lines(used)
        lines.append("# the equation, one line per node")
        self.drops = 0
        for name in g.active_names():
            lines += self._node_lines(name, g.node(name))
        if g.flipped:
            lines.append("u = -u  # the genome is flipped")
        return lines + self._momentum_lines()

    def _operand_lines(self, used: set[str]) -> list[str]:
        power = {"g2": 2, "g3": 3, "s": 2, "lam": 3}
        power |= {r: int(p[-1]) if p != "g" else 1 for r, (_, p, _) in QH_MIX.items()}
        power |= {r: int(p[-1]) if p != "g" else 1 for r, (_, p, _) in AGG_BETAS.items()}
        highest = max([power.get(r, 1) for r in used] + [power[e] for e in self.emas if e != "v"])
        lines = ["g2 = g * g"] if highest >= 2 else []
        lines += ["g3 = g2 * g"] if highest >= 3 else []
        if "dir" in used:
            beta = self.genome.constant("beta_dir")
            lines.append("# Lion's direction, from the moving average v before this step")
            lines.append(f'dir = state["v"].mul({beta!r}).add_(g, alpha=1 - {beta!r})')
        if self.emas:
            lines.append("# the moving averages kept in the state (raw: not bias-corrected)")
        inputs = {"v": "g", "s": "g2", "lam": "g3"}
        for ema in self.emas:
            lines.append(f'state["{ema}"].lerp_({inputs[ema]}, 1 - {self.rates[ema]!r})')
        hats = {ema for ema in EMA_RATES if ema in used}
        hats |= {QH_MIX[r][2] for r in used if r in QH_MIX}
        for ema in self.emas:
            if ema in hats:
                rate = self.rates[ema]
                lines.append(f'{ema} = state["{ema}"] / (1 - {rate!r} ** (k + 1))')
        for ref in _OPERAND_ORDER:
            code = _operand_code(ref, self.genome) if ref in used else None
            if code is not None:
                lines.append(f"{ref} = {code}")
        return lines

    def _conn(self, ref: str, decay: DecayGenome | None) -> tuple[str, str, int]:
        """An input of a node: (code, equation text, how tightly the text binds)."""
        if decay is None:
            return ref, ref, 3
        d = self.decay_names[decay]
        return f"{d} * {ref}", f"{d}(t)*{ref}", 2

    def _node_lines(self, name: str, node: Node) -> list[str]:
        var = "u" if name == "out" else name
        conns = [self._conn(r, d) for r, d in zip(node.inputs, node.decays, strict=True)]
        op = OPERATIONS[node.op]
        text = _op_text(node.op, [(t, p) for _, t, p in conns])
        if op.state is not None:
            return _state_op(var, f"{name}.{op.state}", op.state, conns[0][0], text)
        code = _op_code(node.op, [c for c, _, _ in conns], self.drops)
        if node.op.startswith(_DROP_PREFIX):
            self.drops += 1
        line = f"{var} = {code}"
        return [line if text.replace("(t)*", " * ") == code else f"{line}  # {text}"]

    def _momentum_lines(self) -> list[str]:
        kind = self.genome.momentum
        if kind == "none":
            lines = ["return u * -lr"]
        elif kind == "momentum":
            lines = ['m = state["m"]', "m.mul_(mu).sub_(u * lr)  # m <- mu m - lr u", "return m"]
        else:
            lines = [
                "lr_u = u * lr",
                'm = state["m"]',
                "m.mul_(mu).sub_(lr_u)  # m <- mu m - lr u",
                "return mu * m - lr_u  # Nesterov: the step looks ahead along m",
            ]
        if self.wd:
            # As the compiled rule: the decay is added to the weight change, with |lr| (a
            # negative rate flips the update, not the decay).
            step, _, comment = lines[-1].removeprefix("return ").partition("  # ")
            lines[-1] = f"delta = {step}" + (f"  # {comment}" if comment else "")
            lines.append("return delta + w * (-abs(lr) * WEIGHT_DECAY)  # decoupled weight decay")
        return lines

    # -- schedules ------------------------------------------------------------------------

    def _lr_factor(self) -> str:
        code = LR_CODE[self.schedule]
        if self.eps != EPS:  # EPS is the genome's eps; the factor keeps the paper's
            code = tuple(re.sub(r"\bEPS\b", _number(EPS), part) for part in code)
        return (
            "\ndef lr_factor(k: int, T: int) -> float:\n"
            f'    """{self.schedule} (SPEC 7.3), the factor on the one-cycle schedule; 1e-7 at'
            ' step 0."""\n'
            "    if k == 0:\n"
            "        return 1e-7\n"
            "    t = torch.tensor(float(k), dtype=torch.float64)\n" + _return_float(code)
        )

    def _decay_function(self, decay: DecayGenome) -> str:
        body: list[str] = []
        for node_name in decay.active_names():
            node = decay.node(node_name)
            args = [f"{r}(t, T)" if parse_hidden(r) is None else r for r in node.inputs]
            code = _op_code(node.op, args)
            body.append(f"return {code}" if node_name == "out" else f"{node_name} = {code}")
        name = self.decay_names[decay]
        return (
            f"\ndef {name}(t: torch.Tensor, T: int) -> torch.Tensor:\n"
            f'    """{name}(t) = {decay}"""\n' + "".join(f"    {line}\n" for line in body)
        )


# --------------------------------------------------------------------------------------------
# Pieces
# --------------------------------------------------------------------------------------------

_IMPORTS = "\nfrom __future__ import annotations\n\nimport math\nimport warnings\n\nimport torch\n"

_OPERAND_DOC: dict[str, str] = {
    # Templates over the genome's constants (`_Writer._operand_doc`).
    "g": "g: the gradient",
    "g2": "g2 = g^2",
    "g3": "g3 = g^3",
    "v": "v: the moving average of g (rate {rate_v}), bias-corrected",
    "s": "s: the moving average of g^2 (rate {rate_s}), bias-corrected",
    "lam": "lam: the moving average of g^3 (rate {rate_lam}), bias-corrected",
    "one": "one, two: tensors of ones, twos",
    "two": "one, two: tensors of ones, twos",
    "w6": "w6 = 1e-6 w (w: the weights before the step)",
    "w5": "w5 = 1e-5 w (w: the weights before the step)",
    "w4": "w4 = 1e-4 w (w: the weights before the step)",
    "w3": "w3 = 1e-3 w (w: the weights before the step)",
    "sign_g": "sign_g = sign(g)",
    "sign_v": "sign_v = sign(v)",
    "qh_g": "qh_g = {mix_qh_g} g + {rest_qh_g} v (quasi-hyperbolic)",
    "qh_g2": "qh_g2 = {mix_qh_g2} g^2 + {rest_qh_g2} s",
    "qh_g3": "qh_g3 = {mix_qh_g3} g^3 + {rest_qh_g3} lam",
    "agg_g": "agg_g = mean over b in (0, 0.9, 0.999) of b v_raw - g (v_raw: not corrected)",
    "agg_g2": "agg_g2 = mean over b in (0, 0.99, 0.999) of b s_raw - g^2",
    "agg_g3": "agg_g3 = mean over b in (0, 0.999, 0.9999) of b lam_raw - g^3",
    "dir": "dir = {beta_dir} v_raw + (1 - {beta_dir}) g, v_raw before this step (Lion's c)",
}

_OPERAND_ORDER = (
    "g",
    "g2",
    "g3",
    "v",
    "s",
    "lam",
    "one",
    "two",
    "w6",
    "w5",
    "w4",
    "w3",
    "sign_g",
    "sign_v",
    "qh_g",
    "qh_g2",
    "qh_g3",
    "agg_g",
    "agg_g2",
    "agg_g3",
    "dir",
)


def _operand_code(ref: str, genome: Genome) -> str | None:
    """The code of an operand computed from g, w and the state (None: g, g2, g3, v, s, lam,
    dir, written before the others)."""
    if ref in ("g", "g2", "g3", "dir", *EMA_RATES):
        return None
    if ref == "one":
        return "torch.ones_like(g)"
    if ref == "two":
        return "torch.full_like(g, 2.0)"
    if ref in WEIGHT_SCALES:
        return f"{_number(WEIGHT_SCALES[ref])} * w"
    if ref == "sign_g":
        return "torch.sign(g)"
    if ref == "sign_v":
        return 'torch.sign(state["v"])'
    if ref in QH_MIX:
        _, power, ema = QH_MIX[ref]
        mix = genome.constant(QH_WEIGHT[ref])
        return f"{mix!r} * {power} + {1.0 - mix!r} * {ema}"
    betas, power, ema = AGG_BETAS[ref]
    mean = sum(betas) / len(betas)
    coef = repr(mean)
    if len(coef) > 8:  # 0.6629999999999999: spelled as computed
        coef = f"({' + '.join(map(repr, betas))}) / {len(betas)}"
    return f'{coef} * state["{ema}"] - {power}'


def _return_float(parts: tuple[str, ...]) -> str:
    if len(parts) == 1:
        return f"    return float({parts[0]})\n"
    lines = "".join(f"        {part.strip()}\n" for part in parts)
    return f"    return float(\n{lines}    )\n"


def _state_doc(name: str) -> str:
    raw = {"v": "g", "s": "g^2", "lam": "g^3"}
    if name in raw:
        return f"{name}: the moving average of {raw[name]}, not bias-corrected"
    if name == "m":
        return "m: the momentum buffer"
    node, _, op = name.partition(".")
    what = {"ema": "moving average (rate 0.95)", "delta": "difference", "runmax": "running max"}
    return f"{name}: the {what[op]} of node {node}"


def _state_op(var: str, key: str, kind: str, x: str, text: str) -> list[str]:
    """SPEC 1.2's state-holding operations, each keeping one tensor from 0."""
    if kind == "ema":
        rate = STATE_EMA_RATE
        return [
            f'state["{key}"].lerp_({x}, 1 - {rate!r})  # {text}',
            f'{var} = state["{key}"] / (1 - {rate!r} ** (k + 1))',
        ]
    if kind == "delta":
        return [f'{var} = state["{key}"].neg_().add_({x})  # {text}: d <- x - d']
    return [
        f'{var} = state["{key}"]',
        f"torch.maximum({var}, {x}, out={var})  # {text}: r <- max(x, r)",
    ]


def _latex_parts(genome: Genome) -> list[str]:
    try:
        latex = genome.to_latex()
    except (ValueError, RecursionError):  # a graph too deep for sympy
        return ["(too large for LaTeX)"]
    return [part.strip() for part in latex.split(r" \\ ")]


def _docstring(lines: list[str], indent: str) -> str:
    """A docstring of `lines` at `indent` (raw when it holds a backslash: the LaTeX)."""
    lines = [line.replace('"' * 3, "'" * 3) for line in lines]
    prefix = "r" if any("\\" in line for line in lines) else ""
    out = [f'{indent}{prefix}"""{lines[0]}']
    out += [f"{indent}{line}" if line else "" for line in lines[1:]]
    return "\n".join([*out, f'{indent}"""']) + "\n"


def _tuple(names: Iterable[str]) -> str:
    items = [f'"{n}"' for n in names]
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def _helper_names(code: str) -> list[str]:
    """The helpers `code` calls, and those they call, in the order of `_HELPERS`."""
    needed: set[str] = set()
    todo = _called_helpers(code)
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo |= _called_helpers(_HELPERS[name])
    return [n for n in _HELPERS if n in needed]


def _section(title: str) -> str:
    return f"\n\n# -- {title} " + "-" * (94 - len(title)) + "\n\n"


def _number(x: float) -> str:
    """`x` as a short literal: 1e-4 rather than 0.0001."""
    short = f"{x:.0e}".replace("e-0", "e-")
    return short if float(short) == x else repr(x)
