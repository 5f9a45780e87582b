"""The drop-in promise in a few lines: `optevo.optim.create("LR6", ...)` trains a linear
regression to 1% of its first loss in 200 steps. Prints one JSON line {"first", "last",
"module"}. Run by `scripts/check-wheel.sh` (the installed wheel, no extras) and by
`tests/test_packaging.py` (this checkout, the search extra's modules blocked)."""

import json

import torch

import optevo
import optevo.optim

torch.manual_seed(0)
x = torch.randn(64, 5)
y = x @ torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0])
model = torch.nn.Linear(5, 1)
opt = optevo.optim.create("LR6", model.parameters(), lr=0.3, total_steps=200)
losses = []
for _ in range(200):
    opt.zero_grad()
    loss = ((model(x).squeeze(1) - y) ** 2).mean()
    loss.backward()
    opt.step()
    losses.append(loss.item())
print(json.dumps({"first": losses[0], "last": losses[-1], "module": optevo.__file__}))
