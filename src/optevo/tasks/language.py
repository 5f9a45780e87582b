"""Training and scoring one PTB language-modelling run (the paper's Table 13).

The AWD-LSTM recipe of Merity et al. (2017) for PTB, with the optimizer under test in place
of their SGD/ASGD: batch 80, truncated backpropagation through 70 tokens (the hidden state is
carried from batch to batch and cut off), gradient-norm clipping at 0.25, an L2 penalty of
1.2e-6 on the weights (added to the gradients, so every optimizer sees the same objective),
activation regularisation (AR alpha = 2, TAR beta = 1). 166 batches make one pass over PTB's
929k training tokens, so the paper's 99,600 steps are 600 epochs. Scored by the validation
perplexity (evaluation batch 10): the best seen over the run's evaluations, as in Table 13,
and the test perplexity of the same model is recorded beside it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from optevo.models.awd_lstm import AWDLSTM, detach_hidden
from optevo.tasks.base import DivergenceWatch, RunOutcome, RunRequest, finite_weights
from optevo.tasks.bench_data import TextSet


def batchify(ids: Tensor, batch_size: int) -> Tensor:
    """Token ids as `length x batch_size` columns (the tail that does not fill a row is cut)."""
    rows = len(ids) // batch_size
    if rows < 2:
        raise ValueError(f"{len(ids)} tokens are too few for batch size {batch_size}")
    return ids[: rows * batch_size].view(batch_size, rows).t().contiguous()


class LanguageRunner:
    def __init__(
        self,
        data: TextSet,
        make_model: Callable[[], AWDLSTM],
        batch_size: int = 80,
        bptt: int = 70,
        clip: float = 0.25,
        l2: float = 1.2e-6,
        alpha: float = 2.0,
        beta: float = 1.0,
        eval_batch_size: int = 10,
        evaluations: int = 20,
        device: str = "cpu",
    ) -> None:
        self.data, self.make_model = data, make_model
        self.batch_size, self.bptt, self.clip, self.l2 = batch_size, bptt, clip, l2
        self.alpha, self.beta, self.evaluations = alpha, beta, evaluations
        self.eval_batch_size, self.device = eval_batch_size, device
        self.train_data = batchify(data.train, batch_size)

    def run(self, request: RunRequest) -> RunOutcome:
        """`split` "val" scores the end of the run (the learning-rate test); "test" (the final
        runs) the best validation perplexity over `evaluations` evenly spaced evaluations."""
        t0 = time.perf_counter()
        steps, split = request.steps, request.split
        torch.manual_seed(request.seed)
        model = self.make_model().to(self.device)
        params = list(model.parameters())
        opt = request.build(params)
        watch = DivergenceWatch(self.device, steps)
        data = self.train_data.to(self.device)
        hidden = model.init_hidden(self.batch_size)
        every = max(1, steps // self.evaluations) if split == "test" else steps
        best: float | None = None
        best_test: float | None = None
        status, done, pos = "ok", 0, 0
        model.train()
        for step in range(steps):
            if pos + 1 >= len(data):  # a new pass over the text
                pos, hidden = 0, model.init_hidden(self.batch_size)
            seq = min(self.bptt, len(data) - 1 - pos)
            x, y = data[pos : pos + seq], data[pos + 1 : pos + 1 + seq]
            pos += seq
            hidden = detach_hidden(hidden)
            logits, hidden, raw, dropped = model(x, hidden)
            loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), y.reshape(-1))
            total = loss + model.activation_regularization(raw, dropped, self.alpha, self.beta)
            opt.zero_grad(set_to_none=True)
            total.backward()
            with torch.no_grad():
                for p in params:
                    if p.grad is not None:
                        p.grad.add_(p, alpha=self.l2)
            torch.nn.utils.clip_grad_norm_(params, self.clip)
            opt.step()
            done = step + 1
            if watch.diverged(done, loss):
                status = "diverged"
                break
            if done % every == 0 or done == steps:
                ppl = self.perplexity(model, self.data.valid)
                if ppl is not None and (best is None or ppl < best):
                    best = ppl
                    if split == "test":
                        best_test = self.perplexity(model, self.data.test)
        if status == "ok" and not finite_weights(model):
            status = "diverged"
        extra = {} if best_test is None else {"test_perplexity": best_test}
        metric = best if status == "ok" else None
        return RunOutcome(metric, status, time.perf_counter() - t0, done, extra)

    @torch.no_grad()
    def perplexity(self, model: AWDLSTM, ids: Tensor) -> float | None:
        """exp(mean cross-entropy per token); None when it is not finite."""
        model.eval()
        data = batchify(ids, self.eval_batch_size).to(self.device)
        hidden = model.init_hidden(self.eval_batch_size)
        total, count = 0.0, 0
        for pos in range(0, len(data) - 1, self.bptt):
            seq = min(self.bptt, len(data) - 1 - pos)
            logits, hidden, _, _ = model(data[pos : pos + seq], hidden)
            target = data[pos + 1 : pos + 1 + seq].reshape(-1)
            total += F.cross_entropy(
                logits.view(-1, logits.shape[-1]), target, reduction="sum"
            ).item()
            count += target.numel()
        model.train()
        mean = total / max(1, count)
        return math.exp(mean) if math.isfinite(mean) and mean < 700 else None
