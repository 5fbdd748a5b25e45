"""ChannelAttribution on the benchmark's path file, run by the peers' interpreter
(benchmarks/.peers: ChannelAttribution 2.2.5 is a peer, never a dependency of revlens):

    benchmarks/.peers/bin/python benchmarks/peer_ca.py TASK PATHS.csv OUT.json

TASK is `ca_heuristic` (`heuristic_models`: first, last and linear touch) or `ca_markov`
(`markov_model`, order 1, with conversion value and nulls, its defaults otherwise; see
MARKOV_ARGS). The time covers reading the CSV with pandas and the call, as revlens' tasks
time reading the same file and attributing; imports are not timed. OUT.json gets the
seconds and, per channel, the conversions and value credited (and the removal effects).
Standard library, pandas and ChannelAttribution only: this runs outside revlens' venv.
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

T_START = time.perf_counter()

# markov_model's own defaults (nsim_start=1e5, conv_par=0.05, nfold=10, seed=0) but for:
# ncore=2 (all the machine's cores, as DuckDB gets), max_step=100 (the default cuts every
# simulated walk at the longest observed path, 8 touches here, which loses the walks that
# loop longer and biases every removal effect low: measured on this file over 5 seeds,
# 8 to 47 standard errors below the exact values with the default, within 3.1 with 100;
# 99.99 % of walks end before 100 steps), flg_pro=False, verbose=True (its log is kept).
MARKOV_ARGS: dict[str, Any] = {
    "order": 1,
    "ncore": 2,
    "max_step": 100,
    "seed": 0,
    "out_more": True,
    "flg_pro": False,
    "verbose": True,
}
NOISE_SEEDS = 10  # markov_model runs (seeds 0, 10, .., 90) whose spread the check uses
HEURISTIC_NAMES = {
    "first_touch": "first_touch",
    "last_touch": "last_touch",
    "linear_touch": "linear",
}


def ca_heuristic(paths: str) -> tuple[float, dict[str, Any]]:
    import pandas as pd
    from ChannelAttribution import heuristic_models  # type: ignore[import-not-found]

    t0 = time.perf_counter()
    df = pd.read_csv(paths)
    h = heuristic_models(
        df, "path", "total_conversions", var_value="total_conversion_value", flg_pro=False
    )
    secs = time.perf_counter() - t0
    credit: dict[str, dict[str, dict[str, float]]] = {}
    for row in h.to_dict("records"):
        channel = str(row["channel_name"])
        for prefix, model in HEURISTIC_NAMES.items():
            credit.setdefault(model, {})[channel] = {
                "conversions": float(row[f"{prefix}_conversions"]),
                "value": float(row[f"{prefix}_value"]),
            }
    return secs, {"credit": credit}


def ca_markov(paths: str) -> tuple[float, dict[str, Any]]:
    import pandas as pd

    t0 = time.perf_counter()
    df = pd.read_csv(paths)
    credit, log = _markov(df, seed=0)
    secs = time.perf_counter() - t0
    return secs, {"credit": {"markov": credit}, "log": log, "args": MARKOV_ARGS}


def ca_markov_noise(paths: str) -> tuple[float, dict[str, Any]]:
    """markov_model with seeds 10, 20, .. (seed 0 is the timed run): its run-to-run spread,
    which the agreement check measures revlens' exact answer against. A run with seed s
    draws its nfold=10 folds with seeds s .. s + 9, so seeds closer than 10 share walks."""
    import pandas as pd

    t0 = time.perf_counter()
    df = pd.read_csv(paths)
    runs = [_markov(df, seed)[0] for seed in range(10, 10 * NOISE_SEEDS, 10)]
    return time.perf_counter() - t0, {"credit": {}, "noise": runs, "args": MARKOV_ARGS}


def _markov(df: Any, seed: int) -> tuple[dict[str, dict[str, float]], str]:
    from ChannelAttribution import markov_model

    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        m = markov_model(
            df,
            "path",
            "total_conversions",
            var_value="total_conversion_value",
            var_null="total_null",
            **{**MARKOV_ARGS, "seed": seed},
        )
    res = m["result"].set_index("channel_name")
    rem = m["removal_effects"].set_index("channel_name")
    channels = {
        str(c): {
            "conversions": float(res.loc[c, "total_conversions"]),
            "value": float(res.loc[c, "total_conversion_value"]),
            "removal_effect": float(rem.loc[c, "removal_effects_conversion"]),
            "removal_effect_value": float(rem.loc[c, "removal_effects_conversion_value"]),
        }
        for c in res.index
    }
    return channels, log.getvalue()


TASKS = {"ca_heuristic": ca_heuristic, "ca_markov": ca_markov, "ca_markov_noise": ca_markov_noise}


def own_peak_mb() -> float:
    """This process's peak resident memory since it started (VmHWM): unlike ru_maxrss it
    does not include the size of the runner it was forked from."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> int:
    task, paths, out = argv
    from importlib.metadata import version

    secs, data = TASKS[task](paths)
    Path(out).write_text(
        json.dumps(
            {
                "task": task,
                "seconds": secs,
                "wall_seconds": time.perf_counter() - T_START,
                "rows": sum(len(v) for v in data["credit"].values()),
                "self_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "peak_mb": own_peak_mb(),
                "versions": {p: version(p) for p in ("ChannelAttribution", "pandas", "numpy")},
                **data,
            }
        ),
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
