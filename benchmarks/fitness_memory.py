"""Peak memory of one `quick` fitness evaluation, in fresh subprocesses.

`ru_maxrss` of a fresh subprocess that runs one `quick` evaluation of Adam, minus that of a
baseline subprocess that imports optevo.fitness and loads the data set only (plus
`torch.cuda.max_memory_allocated()` on CUDA). Since loading can peak higher than the
evaluation, the evaluation's own peak is also read from `VmHWM`, reset after loading.

    python benchmarks/fitness_memory.py                   # CPU
    python benchmarks/fitness_memory.py --threads 1 --out res.json
    python benchmarks/fitness_memory.py --device cuda
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import common
from common import fmt_fit, load_note, section

CHILD = r"""
import gc, json, resource, sys
import torch
threads, device, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
if threads > 0:
    torch.set_num_threads(threads)
from optevo.fitness import dataset_for, fitness, preset
cfg = preset("quick", device=device)
data = dataset_for(cfg)
if device.startswith("cuda"):
    torch.zeros(1, device=device)
    torch.cuda.synchronize()
def status_kib(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None
gc.collect()
out = {
    "eval_batch_size": cfg.eval_batch_size,
    "hwm_load_kib": status_kib("VmHWM"),
    "rss_after_load_kib": status_kib("VmRSS"),
    "maxrss_load_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
}
# Reset the peak-RSS mark (Linux >= 4.0): VmHWM, and ru_maxrss with it, then measure what comes
# after; max(before, after) is what ru_maxrss would have said without the reset.
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    out["hwm_reset"] = True
except OSError:
    out["hwm_reset"] = False
if mode == "eval":
    r = fitness("Adam", cfg, data=data)
    out.update(status=r.status, fitness=r.fitness, seconds=r.seconds, error=r.error)
out["hwm_after_kib"] = status_kib("VmHWM")
out["maxrss_after_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out["maxrss_kib"] = max(out["maxrss_load_kib"], out["maxrss_after_kib"])
if device.startswith("cuda"):
    out["cuda_max_allocated"] = torch.cuda.max_memory_allocated()
print("RESULT " + json.dumps(out))
"""

# ru_maxrss of a process started straight from this one starts at this process's resident size:
# Linux keeps the larger of the old and new address space's peak across fork/vfork + exec. A
# child forked by a fresh shell (not exec'd by it: the "; exit" keeps sh from exec'ing) starts
# clean, so its ru_maxrss is its own.
SHELL_HOP = ["/bin/sh", "-c", '"$0" "$@"; exit $?']


def run_child(mode: str, threads: int, device: str) -> dict[str, Any]:
    proc = subprocess.run(
        [*SHELL_HOP, sys.executable, "-c", CHILD, str(threads), device, mode],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"memory subprocess ({mode}) failed:\n{proc.stdout}\n{proc.stderr}")


def bench_memory(threads: int, device: str) -> dict[str, Any]:
    section("peak memory of one `quick` evaluation (fresh subprocesses)")
    print(load_note())
    base = run_child("baseline", threads, device)
    ev = run_child("eval", threads, device)
    mib = 1024.0
    delta = (ev["maxrss_kib"] - base["maxrss_kib"]) / mib
    print(
        f"{'process':<44} {'ru_maxrss':>10} {'peak by load':>13} {'RSS after load':>15} "
        f"{'peak after load':>16}"
    )
    print("-" * 102)
    for name, r in (
        ("baseline: import optevo + load data set", base),
        ("same + one quick fitness evaluation (Adam)", ev),
    ):
        print(
            f"{name:<44} {r['maxrss_kib'] / mib:>6.1f} MiB {r['hwm_load_kib'] / mib:>9.1f} MiB "
            f"{r['rss_after_load_kib'] / mib:>11.1f} MiB {r['hwm_after_kib'] / mib:>12.1f} MiB"
        )
    print(
        "ru_maxrss: the whole process (loading included); peak by load: VmHWM once the data set\n"
        "is loaded; peak after load: VmHWM reset after loading, read at the end"
    )
    print(
        f"\npeak RSS added by the evaluation (ru_maxrss eval - ru_maxrss baseline): {delta:.1f} MiB"
    )
    above = None
    if ev.get("hwm_reset"):
        above = (ev["hwm_after_kib"] - ev["rss_after_load_kib"]) / mib
        print(f"evaluation's own peak above the loaded process (VmHWM reset): {above:.1f} MiB")
        print(
            "(the first figure is smaller when loading the data set peaks higher than the "
            "evaluation: the two peaks overlap)"
        )
    print(
        f"(evaluation: {ev['status']}, fitness {fmt_fit(ev['fitness'])}, {ev['seconds']:.1f} s, "
        f"eval batch {ev['eval_batch_size']})"
    )
    if ev.get("error"):
        print(f"evaluation error: {ev['error']}")
    if "cuda_max_allocated" in ev:
        print(
            f"torch.cuda.max_memory_allocated(): eval {ev['cuda_max_allocated'] / 2**20:.1f} "
            f"MiB, baseline {base['cuda_max_allocated'] / 2**20:.1f} MiB"
        )
    return {"baseline": base, "eval": ev, "delta_maxrss_mib": delta, "eval_above_load_mib": above}


def summary(c: dict[str, Any]) -> None:
    section("SUMMARY")
    line = (
        f"peak RSS of one quick evaluation: ru_maxrss eval - baseline "
        f"{c['delta_maxrss_mib']:.1f} MiB (baseline {c['baseline']['maxrss_kib'] / 1024:.0f} "
        f"MiB, eval {c['eval']['maxrss_kib'] / 1024:.0f} MiB)"
    )
    if c.get("eval_above_load_mib") is not None:
        line += f"; its own peak above the loaded process {c['eval_above_load_mib']:.1f} MiB"
    if "cuda_max_allocated" in c["eval"]:
        line += f"; CUDA max allocated {c['eval']['cuda_max_allocated'] / 2**20:.1f} MiB"
    print(line)


def main() -> None:
    args = common.parser(__doc__).parse_args()
    t_start = time.perf_counter()
    device, res = common.start(args)
    res["memory"] = bench_memory(args.threads or 0, device)
    summary(res["memory"])
    common.finish(res, args.out, t_start)


if __name__ == "__main__":
    main()
