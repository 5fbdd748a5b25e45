"""The synthetic path file of the attribution benchmark: aggregated paths in
ChannelAttribution's format, written once (seeded) and reused.

    benchmarks/data/paths-<rows>.csv   path,total_conversions,total_conversion_value,total_null

What it is (seed 42, NumPy's default generator):

- `rows` distinct paths (1,000,000 by default) over 10 channels, 1 to 8 touches each,
  written "c1 > c2 > ..." (ChannelAttribution's `" > "`).
- Candidates are drawn until there are `rows` distinct ones (the first draw of each path
  is kept, in draw order): length uniform on 1..8; the first channel from fixed channel
  weights (`WEIGHTS`, Zipf-like), every later touch the previous channel again with
  probability `REPEAT` (so repeats, which the linear model counts and Markov collapses,
  occur) or else a fresh draw from the weights. There are only 10 paths of one touch and
  100 of two, so the distinct paths are mostly long (the file's length histogram is
  printed by `describe`).
- People per path: 1 + Poisson(1). Each person converts with probability
  `BASE_RATE` × the product of `LIFT[c]` over the distinct channels of the path,
  normalised so that about 3 % of all journeys convert; `total_null` is the rest.
- Value per conversion: log-normal with median 100 × the lift of the last channel,
  summed per path and rounded to cents (0 when the path has no conversion).

    python benchmarks/paths.py [rows]   # write (or reuse) the file and describe it
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
SEED = 42
ROWS = 1_000_000
CHANNELS: tuple[str, ...] = (
    "paid_search",
    "organic_search",
    "display",
    "social",
    "email",
    "direct",
    "referral",
    "affiliate",
    "video",
    "partner",
)
WEIGHTS = np.array([1.0 / (i + 1) ** 0.8 for i in range(len(CHANNELS))])
REPEAT = 0.2
MAX_STEPS = 8
LIFT = np.array([1.3, 1.2, 0.6, 0.8, 1.5, 1.1, 1.0, 0.9, 0.7, 1.4])
TARGET_RATE = 0.03
SEP = " > "


def path_file(rows: int = ROWS) -> Path:
    return DATA / f"paths-{rows}.csv"


def _draw(rng: np.random.Generator, n: int) -> npt.NDArray[np.int64]:
    """n candidate paths as (n, MAX_STEPS) channel indices, -1 past the path's end."""
    lengths = rng.integers(1, MAX_STEPS + 1, size=n)
    p = WEIGHTS / WEIGHTS.sum()
    fresh = rng.choice(len(CHANNELS), size=(n, MAX_STEPS), p=p)
    repeat = rng.random((n, MAX_STEPS)) < REPEAT
    steps = fresh.copy()
    for k in range(1, MAX_STEPS):
        steps[:, k] = np.where(repeat[:, k], steps[:, k - 1], fresh[:, k])
    steps[np.arange(MAX_STEPS)[None, :] >= lengths[:, None]] = -1
    return steps.astype(np.int64)


def _codes(steps: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """One integer per path (base 11, -1 as 0), equal exactly for equal paths."""
    code = np.zeros(len(steps), dtype=np.int64)
    for k in range(MAX_STEPS):
        code = code * 11 + (steps[:, k] + 1)
    return code


def generate(rows: int = ROWS, seed: int = SEED) -> dict[str, np.ndarray]:
    """The columns of the file: `steps` (rows x MAX_STEPS, -1 padded), conversions,
    value, nulls."""
    rng = np.random.default_rng(seed)
    kept: list[npt.NDArray[np.int64]] = []
    seen: set[int] = set()
    have = 0
    while have < rows:
        batch = _draw(rng, max(rows, 1000))
        codes = _codes(batch)
        _, first = np.unique(codes, return_index=True)
        first.sort()
        fresh = [i for i in first.tolist() if int(codes[i]) not in seen]
        fresh = fresh[: rows - have]
        seen.update(int(codes[i]) for i in fresh)
        kept.append(batch[fresh])
        have += len(fresh)
    steps = np.concatenate(kept)
    people = 1 + rng.poisson(1.0, size=rows)
    touched = np.zeros((rows, len(CHANNELS)), dtype=bool)
    for k in range(MAX_STEPS):
        valid = steps[:, k] >= 0
        touched[np.flatnonzero(valid), steps[valid, k]] = True
    lift = np.exp(touched.astype(np.float64) @ np.log(LIFT))
    rate = lift * TARGET_RATE * people.sum() / float((lift * people).sum())
    conversions = rng.binomial(people, np.clip(rate, 0.0, 1.0))
    length = (steps >= 0).sum(axis=1)
    last = steps[np.arange(rows), length - 1]
    # a sum of `conversions` log-normal values, each with median 100 x the last channel's lift
    value = np.zeros(rows)
    converting = np.flatnonzero(conversions > 0)
    per_conv = np.repeat(converting, conversions[converting])
    draws = 100.0 * LIFT[last[per_conv]] * rng.lognormal(0.0, 0.5, size=len(per_conv))
    np.add.at(value, per_conv, draws)
    return {
        "steps": steps,
        "conversions": conversions.astype(np.int64),
        "value": np.round(value, 2),
        "nulls": (people - conversions).astype(np.int64),
    }


def ensure(rows: int = ROWS, seed: int = SEED) -> Path:
    """Write the file unless it is there (a sidecar .json records rows and seed)."""
    out = path_file(rows)
    meta = out.with_suffix(".json")
    if out.exists() and meta.exists():
        info = json.loads(meta.read_text())
        if info.get("rows") == rows and info.get("seed") == seed:
            return out
    cols = generate(rows, seed)
    names = np.array(CHANNELS, dtype=object)
    lines = ["path,total_conversions,total_conversion_value,total_null"]
    for steps, conv, value, nulls in zip(
        cols["steps"].tolist(),
        cols["conversions"].tolist(),
        cols["value"].tolist(),
        cols["nulls"].tolist(),
        strict=True,
    ):
        path = SEP.join(str(names[s]) for s in steps if s >= 0)
        lines.append(f"{path},{conv},{value:.2f},{nulls}")
    DATA.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(out)
    meta.write_text(json.dumps({"rows": rows, "seed": seed, **describe(cols)}, indent=1))
    return out


def describe(cols: dict[str, np.ndarray]) -> dict[str, object]:
    """What the file holds: rows, journeys, conversion shares, the length histogram."""
    conv, nulls = cols["conversions"], cols["nulls"]
    length = (cols["steps"] >= 0).sum(axis=1)
    journeys = int(conv.sum() + nulls.sum())
    return {
        "journeys": journeys,
        "conversions": int(conv.sum()),
        "journeys_converting": round(float(conv.sum()) / journeys, 4),
        "rows_converting": round(float((conv > 0).mean()), 4),
        "value": round(float(cols["value"].sum()), 2),
        "length_histogram": {
            int(k): int(v) for k, v in zip(*np.unique(length, return_counts=True), strict=True)
        },
        "rows_with_repeats": int(
            ((cols["steps"][:, 1:] == cols["steps"][:, :-1]) & (cols["steps"][:, 1:] >= 0))
            .any(axis=1)
            .sum()
        ),
    }


def info(rows: int = ROWS) -> dict[str, Any]:
    """The description stored beside the file (written by `ensure`)."""
    meta = path_file(rows).with_suffix(".json")
    return json.loads(meta.read_text()) if meta.exists() else {}


if __name__ == "__main__":
    n = int(sys.argv[1].replace("_", "")) if len(sys.argv) > 1 else ROWS
    print(ensure(n))
    print(json.dumps(info(n), indent=1))
