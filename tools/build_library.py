"""Regenerate src/optevo/library/genomes.json, the named optimizers as data (SPEC 7.2, 7.4).

The JSON file is the source of truth that optevo loads; this script documents how each
entry maps the paper's equation onto the search space, and rebuilds the file:
    python tools/build_library.py

Every entry but the last two is a genome of the paper's space. AdamW and Lion are genomes of
the extended space: they carry constants (`optevo.space.genes`), and Lion reads the extended
operand `dir` through the extended operation `sign`.
"""

from __future__ import annotations

import json
from pathlib import Path

from optevo.space import Constants, DecayGenome, Genome, Node

FILL = Node("identity", ("g",))  # inactive padding: every library genome has 4 hidden nodes


def n(op: str, *inputs: str, decays: tuple[DecayGenome | None, ...] = ()) -> Node:
    return Node(op, inputs, decays)


def genome(
    hidden: list[Node],
    output: Node,
    momentum: str = "none",
    constants: dict[str, float] | None = None,
) -> Genome:
    padded = tuple(hidden + [FILL] * (4 - len(hidden)))
    return Genome(padded, output, momentum, constants=Constants(constants or {}))


def decay(hidden: Node, output: Node) -> DecayGenome:
    return DecayGenome((hidden,), output)


def unary_decay(op: str, schedule: str) -> DecayGenome:
    return decay(n("identity", schedule), n(op, "h0"))


LIN_DEC = unary_decay("identity", "lin_dec")
ATAN_DEMON = unary_decay("atan", "demon_dec")
DTANH_COS_INC = unary_decay("dtanh", "cos_inc")
MAX_CYC_LIN = decay(n("identity", "cyc_cos_inc"), n("max", "h0", "lin_inc_restart"))
ERFC_EXP_DEC = unary_decay("erfc", "exp_dec")
DEMON_LIN_INC = decay(n("identity", "demon_dec"), n("mul", "h0", "lin_inc"))


def opt4(inner: DecayGenome | None) -> Genome:
    return genome(
        [n("exp", "v"), n("abs", "h0", decays=(inner,)), n("clip", "two", "h1")],
        n("div", "qh_g", "h2"),
    )


def opt1_family(ema_operand: str, op: str) -> Genome:
    return genome(
        [n("sub", "w5", ema_operand), n(op, "w5", "h0"), n("softsign", "h1")],
        n("add", "qh_g", "h2"),
    )


def opt6(inner: DecayGenome | None) -> Genome:
    return genome([n("exp", "w4"), n("abs", "h0", decays=(inner,))], n("div", "qh_g", "h1"))


def opt78(outer: str, a: DecayGenome | None) -> Genome:
    return genome([n("asinh", "qh_g")], n(outer, "h0", decays=(a,)))


def opt9(d: DecayGenome | None) -> Genome:
    return genome(
        [n("atan", "qh_g2"), n("exp", "h0")], n("mul", "g", "h1", decays=(d, None)), "nesterov"
    )


def opt10(d: DecayGenome | None) -> Genome:
    return genome([n("i1e", "g", decays=(d,))], n("i1e", "h0"), "nesterov")


ADAM = genome([n("sqrt", "s")], n("div", "v", "h0"))

# torch.optim.AdamW's defaults: betas (0.9, 0.999), eps 1e-8, weight_decay 0.01. The update is
# Adam's, v_hat / (sqrt(|s_hat|) + eps); the weight decay acts beside it, w <- w - lr_t wd w.
ADAMW = genome(
    [n("sqrt", "s")], n("div", "v", "h0"), constants={"beta_s": 0.999, "eps": 1e-8, "wd": 0.01}
)

# Lion (Chen et al. 2023) with optevo.optim.lion.Lion's defaults: u = sign(c), c = beta1 m +
# (1 - beta1) g (the operand dir, beta_dir = beta1 = 0.9), m = EMA_beta2(g) (the raw v, beta_v =
# beta2 = 0.99), no weight decay.
LION = genome([n("sign", "dir")], n("identity", "h0"), constants={"beta_v": 0.99})
SIGN_PRODUCT = n("mul", "sign_g", "sign_v", decays=(LIN_DEC, None))

ENTRIES: dict[str, tuple[Genome, str | None, str]] = {
    "Adam": (ADAM, None, "Adam: v_hat / (sqrt(|s_hat|) + eps), betas (0.9, 0.99), eps 1e-7"),
    "RMSProp": (
        genome([n("sqrt", "s")], n("div", "g", "h0")),
        None,
        "RMSProp: g / (sqrt(|s_hat|) + eps)",
    ),
    "SGD": (genome([n("identity", "g")], n("identity", "h0")), None, "SGD: u = g"),
    "Momentum": (
        genome([n("identity", "g")], n("identity", "h0"), "momentum"),
        None,
        "SGD with (cycled) momentum",
    ),
    "Nesterov": (
        genome([n("identity", "g")], n("identity", "h0"), "nesterov"),
        None,
        "SGD with Nesterov momentum",
    ),
    "QHM": (
        genome([n("identity", "qh_g")], n("identity", "h0")),
        None,
        "QHM: 0.3 g + 0.7 v_hat (nu = 0.7)",
    ),
    "PowerSign-ld": (
        genome([SIGN_PRODUCT, n("exp", "h0")], n("mul", "h1", "g")),
        None,
        "PowerSign with linear decay: exp(ld(t) sign(g) sign(m)) g",
    ),
    "AddSign-ld": (
        genome([SIGN_PRODUCT, n("add", "one", "h0")], n("mul", "h1", "g")),
        None,
        "AddSign with linear decay: (1 + ld(t) sign(g) sign(m)) g",
    ),
    "Opt1": (
        opt1_family("qh_g2", "clip"),
        None,
        "qh_g + softsign(clip(1e-5 w, -c, c)), c = |1e-5 w - qh_g2|",
    ),
    "Opt2": (
        opt1_family("qh_g2", "div_sqrt1p"),
        None,
        "qh_g + softsign(1e-5 w / sqrt(1 + (1e-5 w - qh_g2)^2))",
    ),
    "Opt3": (
        opt1_family("qh_g3", "div_sqrt1p"),
        None,
        "qh_g + softsign(1e-5 w / sqrt(1 + (1e-5 w - qh_g3)^2))",
    ),
    "Opt4": (
        opt4(ATAN_DEMON),
        "LR1",
        "qh_g / clip(2, -c, c), c = |atan(demon_dec) exp(v_hat)|, with LR1",
    ),
    "Opt41": (opt4(None), "LR1", "Opt4 without the inner atan(demon_dec)"),
    "Opt42": (opt4(None), None, "Opt4 without any decay function"),
    "Opt5": (opt4(None), "LR1", "qh_g / clip(2, -c, c), c = |exp(v_hat)|, with LR1"),
    "Opt6": (
        opt6(DTANH_COS_INC),
        "LR1",
        "qh_g / |(1 - tanh(cos_inc)^2) exp(1e-4 w)|, with LR1 (together: LR2)",
    ),
    "Opt61": (opt6(None), None, "Opt6 without any decay function"),
    "Opt7": (
        opt78("tanh", MAX_CYC_LIN),
        None,
        "tanh(a asinh(qh_g)), a = max(cyc_cos_inc, lin_inc_restart)",
    ),
    "Opt71": (opt78("tanh", None), None, "Opt7 without any decay function"),
    "Opt8": (
        opt78("asinh", MAX_CYC_LIN),
        None,
        "asinh(a asinh(qh_g)), a = max(cyc_cos_inc, lin_inc_restart)",
    ),
    "Opt81": (opt78("asinh", None), None, "Opt8 without any decay function"),
    "Opt9": (opt9(ERFC_EXP_DEC), None, "Nesterov: erfc(exp_dec) g exp(atan(qh_g2))"),
    "Opt91": (opt9(None), None, "Opt9 without any decay function"),
    "Opt10": (opt10(DEMON_LIN_INC), None, "Nesterov: i1e(i1e(demon_dec lin_inc g))"),
    "Opt101": (opt10(None), None, "Opt10 without any decay function"),
    "A1": (
        genome([n("sqrt", "s")], n("clip", "v", "h0")),
        None,
        "clip(v_hat, +-(sqrt(S) + eps)); in the space the bound is sqrt(S) (no eps)",
    ),
    "A2": (genome([n("log", "s")], n("clip", "v", "h0")), None, "clip(v_hat, +-|ln(S + eps)|)"),
    "A3": (
        genome([n("log", "s"), n("sqrt", "h0")], n("clip", "v", "h1")),
        None,
        "clip(v_hat, +-sqrt(|ln(S + eps)|))",
    ),
    "A4": (
        genome([n("sigmoid", "s")], n("clip", "v", "h0")),
        None,
        "clip(v_hat, +-sigmoid(S + eps)); in the space the bound is sigmoid(S) (no eps)",
    ),
    "A5": (
        genome([n("sqrt", "s"), n("clip", "v", "h0")], n("norm", "h1")),
        None,
        "norm(clip(v_hat, +-(sqrt(S) + eps))); in the space the bound is sqrt(S) (no eps)",
    ),
    **{
        f"LR{i}": (ADAM, f"LR{i}", f"Adam with the learning-rate schedule LR{i}")
        for i in range(1, 10)
    },
    # The extended space (constants as genes).
    "AdamW": (
        ADAMW,
        None,
        "AdamW: v_hat / (sqrt(|s_hat|) + eps), betas (0.9, 0.999), eps 1e-8, decoupled weight "
        "decay 0.01 (torch.optim.AdamW's defaults)",
    ),
    "Lion": (
        LION,
        None,
        "Lion: sign(0.9 m + 0.1 g), m = EMA_0.99(g) (Chen et al. 2023), no weight decay",
    ),
}


def main() -> None:
    out = {
        "schema": "optevo.library/1",
        "optimizers": {
            name: {"lr_schedule": lr, "description": desc, "genome": g.to_dict()}
            for name, (g, lr, desc) in ENTRIES.items()
        },
    }
    path = Path(__file__).resolve().parents[1] / "src/optevo/library/genomes.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {len(ENTRIES)} optimizers to {path}")


if __name__ == "__main__":
    main()
