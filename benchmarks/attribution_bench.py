"""The attribution part of the benchmark, runner side: which tasks there are, the peers'
venv, the agreement checks and the report sections (run.py calls in here).

Path file (paths.py, 1M aggregated paths): revlens' rule-based models and Markov through
the path-file API against ChannelAttribution 2.2.5's `heuristic_models` and
`markov_model` on the same file. Raw touchpoints (demo warehouses): the journeys of
`warehouse_attribution` and the rule-based models, Markov and Shapley.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PEERS = HERE / ".peers"  # git-ignored: ChannelAttribution's own venv
PEER_PACKAGES = ("channelattribution==2.2.5", "matplotlib", "pandas")

PATH_TASKS = (
    "revlens_paths_heuristic",
    "revlens_paths_rules",
    "revlens_paths_markov",
    "ca_heuristic",
    "ca_markov",
)
PEER_TASKS = ("ca_heuristic", "ca_markov", "ca_markov_noise")
RAW_TASKS = ("revlens_attr_customer", "revlens_attr_revenue", "revlens_attr_timed")
SPARK_TASKS = ("spark_all", "spark_subset", "spark_funnel", "spark_attr_customer")
SCALING_TASKS = ("revlens_subset", "revlens_funnel", "revlens_attr_customer")
LABELS = {
    "revlens_paths_heuristic": "revlens: first, last, linear touch",
    "revlens_paths_rules": "revlens: all 8 rule-based models",
    "revlens_paths_markov": "revlens: Markov (order 1, exact)",
    "ca_heuristic": "ChannelAttribution: heuristic_models",
    "ca_markov": "ChannelAttribution: markov_model (order 1, simulated)",
    "ca_markov_noise": "ChannelAttribution: markov_model, seeds 10 .. 90 (agreement only)",
    "revlens_attr_customer": "revlens attribution, customer: 5 rule-based + Markov + Shapley",
    "revlens_attr_revenue": "revlens attribution, revenue: 5 rule-based + Markov + Shapley",
    "revlens_attr_timed": "revlens attribution, customer: time_decay, w_shaped, full_path",
    "spark_all": "Spark: whole KPI catalogue",
    "spark_subset": "Spark: core subset",
    "spark_funnel": "Spark: funnel",
    "spark_attr_customer": "Spark attribution, customer: 5 rule-based + Markov + Shapley",
}
HEURISTIC_TOL = 1e-6
MARKOV_SIGMAS = 6.0  # t with 9 degrees of freedom: P(|t| > 6) = 2e-4 per comparison
GOAL_SPEEDUP, GOAL_SECONDS, GOAL_MB = 3.0, 20.0, 8 * 1024

Credit = dict[str, dict[str, dict[str, float]]]


def log(msg: str) -> None:
    print(msg, flush=True)


# -- the peers' venv -----------------------------------------------------------------------
def ensure_peers() -> tuple[str | None, str]:
    """The interpreter of a venv with ChannelAttribution 2.2.5, made on first use
    (benchmarks/.peers, or $BENCH_PEERS_PYTHON when set); (None, why) when it cannot be."""
    given = os.environ.get("BENCH_PEERS_PYTHON")
    py = Path(given) if given else PEERS / "bin" / "python"
    if _has_ca(py):
        return str(py), ""
    if given:
        return None, f"$BENCH_PEERS_PYTHON={given} cannot import ChannelAttribution"
    log(f"installing the peers into {PEERS}: {' '.join(PEER_PACKAGES)} ...")
    steps = (
        [sys.executable, "-m", "venv", "--clear", str(PEERS)],
        [str(py), "-m", "pip", "install", "--quiet", *PEER_PACKAGES],
    )
    for cmd in steps:
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return None, f"`{' '.join(cmd[2:])}` failed: {' / '.join(tail)}"
    if not _has_ca(py):
        return None, "ChannelAttribution installed but does not import"
    return str(py), ""


def _has_ca(py: Path) -> bool:
    if not py.exists():
        return False
    check = "import contextlib, io\nwith contextlib.redirect_stdout(io.StringIO()):\n"
    check += "    import ChannelAttribution\n"
    return subprocess.run([str(py), "-c", check], capture_output=True).returncode == 0


def peer_versions(py: str) -> str:
    code = (
        "from importlib.metadata import version as v\n"
        "print(', '.join(f'{p} {v(p)}' for p in ('ChannelAttribution', 'pandas', 'numpy')))"
    )
    out = subprocess.run([py, "-c", code], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


# -- agreement -----------------------------------------------------------------------------
def check_heuristic(ours: Credit, ca: Credit) -> list[str]:
    """First, last and linear touch: conversions and value per channel equal to 1e-6."""
    problems = []
    for model in ("first_touch", "last_touch", "linear"):
        mine, theirs = ours.get(model, {}), ca.get(model, {})
        if set(mine) != set(theirs):
            problems.append(f"{model}: channels {sorted(mine)} vs {sorted(theirs)}")
            continue
        for channel, entry in theirs.items():
            for key in ("conversions", "value"):
                a, b = mine[channel][key], entry[key]
                if not abs(a - b) <= HEURISTIC_TOL:
                    problems.append(f"{model} {channel} {key}: revlens {a!r}, CA {b!r}")
    return problems


@dataclass
class MarkovCheck:
    problems: list[str] = field(default_factory=list)
    runs: int = 0
    worst_z: float = 0.0  # the largest |ours - CA's mean| / standard error of the mean
    worst: str = ""


MARKOV_KEYS = ("removal_effect", "removal_effect_value", "conversions", "value")


def check_markov(ours: Credit, runs: list[dict[str, dict[str, float]]]) -> MarkovCheck:
    """Ours is exact, ChannelAttribution's a simulation: over its runs with different
    seeds, the mean of every channel's removal effects (conversions and value) and
    credited conversions and value must lie within MARKOV_SIGMAS standard errors of the
    mean (sd / sqrt(runs)) of ours. The spread is measured, not assumed: CA's convergence
    rule stops at a varying number of walks, so a binomial error would understate it."""
    out = MarkovCheck(runs=len(runs))
    mine = {c: e for c, e in ours.get("markov", {}).items() if c != "(none)"}
    if len(runs) < 3:
        out.problems.append(f"{len(runs)} ChannelAttribution runs: too few to measure noise")
        return out
    for run in runs:
        if set(run) != set(mine):
            out.problems.append(f"channels differ: {sorted(mine)} vs {sorted(run)}")
            return out
    for c in sorted(mine):
        for key in MARKOV_KEYS:
            xs = [r[c][key] for r in runs]
            mean = math.fsum(xs) / len(xs)
            sd = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (len(xs) - 1))
            se = max(sd / math.sqrt(len(xs)), 1e-12 * max(1.0, abs(mean)))
            z = abs(mine[c][key] - mean) / se
            if z > out.worst_z:
                out.worst_z, out.worst = z, f"{c} {key}"
            if z > MARKOV_SIGMAS:
                out.problems.append(
                    f"markov {c} {key}: revlens {mine[c][key]:.6g}, CA {mean:.6g} ± {se:.2g}"
                    f" over {len(xs)} runs ({z:.1f} standard errors)"
                )
    return out


def check_engines(duckdb: Credit, spark: Credit) -> list[str]:
    """DuckDB and Spark: the same credit per model and channel (to 1e-9, relative)."""
    problems = []
    for model, channels in duckdb.items():
        other = spark.get(model, {})
        if set(channels) != set(other):
            problems.append(f"{model}: channels {sorted(channels)} vs {sorted(other)}")
            continue
        for channel, entry in channels.items():
            for key in ("conversions", "value"):
                a, b = entry[key], other[channel][key]
                if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6):
                    problems.append(f"{model} {channel} {key}: DuckDB {a!r}, Spark {b!r}")
    return problems


def check_totals(credit: Credit) -> list[str]:
    """Every model of a task credits the same total conversions (the totals add up)."""
    totals = {m: math.fsum(e["conversions"] for e in ch.values()) for m, ch in credit.items()}
    if not totals:
        return ["no credit at all"]
    first = next(iter(totals.values()))
    return [
        f"{m} credits {t:.6f} conversions, not {first:.6f}"
        for m, t in totals.items()
        if not math.isclose(t, first, rel_tol=1e-9, abs_tol=1e-6)
    ]


def self_check() -> list[str]:
    """The checks must catch what they are for (part of --quick): a heuristic credit off by
    1e-5, and a Markov credit that is another model's (linear) or off by 5 %."""
    ca: Credit = {
        "first_touch": {"a": {"conversions": 10.0, "value": 100.0}},
        "last_touch": {"a": {"conversions": 10.0, "value": 100.0}},
        "linear": {"a": {"conversions": 10.0, "value": 100.0}},
    }
    bad = []
    off = {**ca, "linear": {"a": {"conversions": 10.00001, "value": 100.0}}}
    if not check_heuristic(off, ca):
        bad.append("the heuristic check missed a 1e-5 difference")
    if check_heuristic(ca, ca):
        bad.append("the heuristic check rejects equal credit")
    exact: dict[str, dict[str, float]] = {
        "a": {"conversions": 600.0, "value": 6e4, "removal_effect": 0.6},
        "b": {"conversions": 400.0, "value": 4e4, "removal_effect": 0.4},
    }
    for entry in exact.values():
        entry["removal_effect_value"] = entry["removal_effect"]
    noisy = [
        {c: {k: v * (1 + 0.01 * ((i % 3) - 1)) for k, v in e.items()} for c, e in exact.items()}
        for i in range(10)
    ]
    if check_markov({"markov": exact}, noisy).problems:
        bad.append("the Markov check rejects exact credit inside the runs' noise")
    shifted = {c: {k: v * 1.05 for k, v in e.items()} for c, e in exact.items()}
    if not check_markov({"markov": shifted}, noisy).problems:
        bad.append("the Markov check missed credit 5 % off")
    return bad


# -- the report ----------------------------------------------------------------------------
BEGIN = "<!-- measured-attribution: written by benchmarks/run.py -->"
END = "<!-- /measured-attribution -->"
SCALING_BEGIN = "<!-- measured-scaling: written by benchmarks/run.py -->"
SCALING_END = "<!-- /measured-scaling -->"


def fmt(value: float | None, spec: str, none: str = "—") -> str:
    return none if value is None else format(value, spec)


def phases_line(phases: dict[str, float]) -> str:
    parts = [f"{k} {v:.1f} s" for k, v in phases.items() if k != "distinct journeys"]
    if "distinct journeys" in phases:
        parts.append(f"{phases['distinct journeys']:,.0f} distinct journeys")
    return "; ".join(parts)


def first_ok(res: Any, task: str) -> Any:
    runs = res.ok_runs(task)
    return runs[0] if runs else None


def median_run(res: Any, task: str) -> Any:
    """The run whose time is the median (the lower one of an even count): its phases are
    the ones shown beside the median."""
    runs = sorted((r for r in res.ok_runs(task) if r.seconds is not None), key=lambda r: r.seconds)
    return runs[(len(runs) - 1) // 2] if runs else None


def check_paths(res: Any) -> list[str]:
    """Agreement on the path file: heuristics to 1e-6, Markov within CA's noise, and every
    revlens model's credit adding up to the file's conversions."""
    import paths

    problems = []
    conv = float(paths.info(res.contacts).get("conversions", 0))
    for task in ("revlens_paths_heuristic", "revlens_paths_rules", "revlens_paths_markov"):
        run = first_ok(res, task)
        if run is not None:
            problems += [f"{task}: {p}" for p in check_totals(run.credit)]
            for model, channels in run.credit.items():
                total = math.fsum(e["conversions"] for e in channels.values())
                if not math.isclose(total, conv, rel_tol=1e-9):
                    problems.append(f"{task} {model}: {total} conversions, the file has {conv}")
    ours, ca = first_ok(res, "revlens_paths_heuristic"), first_ok(res, "ca_heuristic")
    if ours and ca:
        problems += check_heuristic(ours.credit, ca.credit)
        res.notes["heuristic"] = "equal"
    rules = first_ok(res, "revlens_paths_rules")
    if ours and rules:
        same = {m: rules.credit[m] for m in ours.credit}
        problems += [f"rules vs heuristic task: {p}" for p in check_engines(ours.credit, same)]
    ours, ca = first_ok(res, "revlens_paths_markov"), first_ok(res, "ca_markov")
    noise = first_ok(res, "ca_markov_noise")
    if ours and ca:
        runs = [ca.credit["markov"]]  # seed 0 (every repeat gives the same)
        runs += noise.extra.get("noise", []) if noise else []
        check = check_markov(ours.credit, runs)
        problems += check.problems
        res.notes["markov"] = (
            f"{check.runs} markov_model runs (seeds 0, 10, .., {10 * (check.runs - 1)});"
            f" the largest difference is {check.worst_z:.1f} standard errors of their mean"
            f" ({check.worst})"
        )
    return problems


def check_raw(res: Any) -> list[str]:
    """Raw touchpoints: every model's credit adds up; Spark equals DuckDB."""
    problems = []
    for task in (*RAW_TASKS, "spark_attr_customer"):
        run = first_ok(res, task)
        if run is not None:
            problems += [f"{task}: {p}" for p in check_totals(run.credit)]
    duck, spark = first_ok(res, "revlens_attr_customer"), first_ok(res, "spark_attr_customer")
    if duck and spark:
        problems += [f"DuckDB vs Spark: {p}" for p in check_engines(duck.credit, spark.credit)]
    return problems


def _cells(res: Any, task: str, base: float | None) -> list[str]:
    """label, runs, median, best, CPU, peak, ratio (base / median), phases."""
    if task in res.skipped:
        return [LABELS[task], "0", res.skipped[task], "", "", "", "", ""]
    med = res.median(task)
    if med is None:
        err = res.runs[task][0].error if res.runs.get(task) else "not run"
        return [LABELS[task], "0", f"failed: {err}", "", "", "", "", ""]
    run = median_run(res, task)
    return [
        LABELS[task],
        str(len(res.ok_runs(task))),
        f"{med:.2f}",
        fmt(res.best(task), ".2f"),
        fmt(res.cpu(task), ".1f"),
        fmt(res.peak(task), ",.0f"),
        fmt(base / med if base else None, ".2f"),
        phases_line(run.phases) if run else "",
    ]


def _row(res: Any, task: str, base: float | None) -> str:
    return "| " + " | ".join(_cells(res, task, base)) + " |"


HEAD = (
    "| task | runs | seconds (median) | best | CPU s | peak RSS (MB) | {ratio} | phases |\n"
    "|---|---:|---:|---:|---:|---:|---:|---|"
)


def paths_table(res: Any) -> str:
    lines = [HEAD.format(ratio="CA ÷ task")]
    for task in PATH_TASKS:
        if task not in res.runs and task not in res.skipped:
            continue
        base = res.median("ca_markov" if "markov" in task else "ca_heuristic")
        lines.append(_row(res, task, base if not task.startswith("ca_") else None))
    return "\n".join(lines) + "\n"


def raw_table(results: list[Any]) -> str:
    lines = [
        "| contacts | task | runs | seconds (median) | best | CPU s | peak RSS (MB) | phases |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for res in results:
        for task in (*RAW_TASKS, "spark_attr_customer"):
            if task not in res.runs and task not in res.skipped:
                continue
            cells = _cells(res, task, None)
            del cells[6]  # no ratio column here
            lines.append(f"| {res.contacts:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def goals(paths_res: Any | None, results: list[Any]) -> list[str]:
    out = []
    if paths_res is not None:
        ours, ca = paths_res.median("revlens_paths_markov"), paths_res.median("ca_markov")
        if ours and ca:
            ok = ca >= GOAL_SPEEDUP * ours
            agree = not [p for p in paths_res.problems.get("attribution", []) if "markov" in p]
            out.append(
                f"- Markov on the path file: {ca / ours:.2f}× ChannelAttribution's speed"
                f" ({'meets' if ok else 'misses'} ≥ {GOAL_SPEEDUP:g}×); exact, and"
                f" {'within' if agree else 'OUTSIDE'} its simulation noise"
            )
        ours, ca = paths_res.median("revlens_paths_heuristic"), paths_res.median("ca_heuristic")
        if ours and ca:
            out.append(f"- first, last, linear touch on the path file: {ca / ours:.2f}× CA")
    for res in results:
        med, peak = res.median("revlens_attr_customer"), res.peak("revlens_attr_customer")
        if med is None or peak is None:
            continue
        run = median_run(res, "revlens_attr_customer")
        dd = run.phases.get("journeys", 0) + run.phases.get("journey table", 0)
        dd += run.phases.get("markov", 0) + run.phases.get("shapley", 0)
        fast, small = dd < GOAL_SECONDS, peak < GOAL_MB
        out.append(
            f"- {res.contacts:,} contacts, Markov and Shapley from raw touchpoints (customer):"
            f" {dd:.1f} s for the journeys and both models"
            + (f" ({'meets' if fast else 'misses'} < 20 s)" if res.contacts >= 10**7 else "")
            + f" ({med:.1f} s with the 5 rule-based models), peak {peak / 1024:.2f} GB"
            + (f" ({'meets' if small else 'misses'} < 8 GB)" if res.contacts >= 10**7 else "")
        )
    return out


def report(paths_res: Any | None, results: list[Any], header: list[str], command: str) -> str:
    lines = [BEGIN, "", *header, ""]
    if paths_res is not None:
        import paths

        info = paths.info(paths_res.contacts)
        lines += [
            f"Path file: `benchmarks/data/paths-{paths_res.contacts}.csv` (`paths.py`, seed"
            f" {info.get('seed')}): {paths_res.contacts:,} distinct paths over 10 channels,"
            f" {info.get('journeys', 0):,} journeys of which {info.get('conversions', 0):,}"
            f" convert ({100 * float(info.get('journeys_converting', 0)):.2f} %; rows with a"
            f" conversion {100 * float(info.get('rows_converting', 0)):.2f} %), touches per"
            f" path {info.get('length_histogram')}. Peers: {paths_res.notes.get('peers', '—')}.",
            "",
            paths_table(paths_res),
        ]
        for task, why in paths_res.skipped.items():
            lines.append(f"- {task}: {why}.")
    raw = [
        r
        for r in results
        if any(t in r.runs or t in r.skipped for t in (*RAW_TASKS, "spark_attr_customer"))
    ]
    if raw:
        lines += [
            "",
            "From raw touchpoints (`warehouse_journeys` + `attribute`, as"
            ' `warehouse_attribution(model=..., conversion=..., level="channel",'
            ' lookback="90d")` over 2024-11-01 .. 2026-10-31):',
            "",
            raw_table(raw),
        ]
    lines += ["", "Goals:", "", *goals(paths_res, results), "", "Agreement:", ""]
    if paths_res is not None:
        probs = paths_res.problems.get("attribution", [])
        lines.append(
            "- path file: "
            + ("all agree" if not probs else f"{len(probs)} DIFFER")
            + f": heuristics to {HEURISTIC_TOL:g} (conversions and value per channel);"
            f" Markov removal effects and credit within {MARKOV_SIGMAS:g} standard errors of"
            f" ChannelAttribution's mean over seeds"
            f" ({paths_res.notes.get('markov', 'not compared')})"
        )
    for res in raw:
        probs = res.problems.get("attribution", [])
        spark = "; DuckDB and Spark equal" if first_ok(res, "spark_attr_customer") else ""
        lines.append(
            f"- {res.contacts:,} contacts: "
            + ("every model's credit adds up" if not probs else f"{len(probs)} problems")
            + spark
        )
    lines += ["", END]
    return "\n".join(lines) + "\n"


def scaling(
    results: list[Any], labels: dict[str, str], tasks: tuple[str, ...] = SCALING_TASKS
) -> str:
    """Seconds and peak memory of the same tasks at every size, and their growth; empty
    (the section is left as it was) unless every task ran at two sizes or more."""
    sizes = [r for r in results if any(r.median(t) for t in tasks)]
    if len(sizes) < 2 or any(r.median(t) is None for t in tasks for r in sizes):
        return ""
    head = "| task | " + " | ".join(f"{r.contacts / 1e6:g}M" for r in sizes)
    head += f" | growth {sizes[0].contacts / 1e6:g}M → {sizes[-1].contacts / 1e6:g}M |"
    lines = [
        SCALING_BEGIN,
        "",
        "Seconds (median) and peak RSS per size; data grows"
        f" {sizes[-1].contacts / sizes[0].contacts:g}× from the first to the last size.",
        "",
        head,
        "|---|" + "---:|" * (len(sizes) + 1),
    ]
    for task in tasks:
        cells = []
        for r in sizes:
            med, peak = r.median(task), r.peak(task)
            cells.append("—" if med is None else f"{med:.1f} s, {fmt(peak, ',.0f')} MB")
        a, b = sizes[0].median(task), sizes[-1].median(task)
        pa, pb = sizes[0].peak(task), sizes[-1].peak(task)
        growth = f"{b / a:.1f}× time, {pb / pa:.1f}× memory" if a and b and pa and pb else "—"
        lines.append(f"| {labels.get(task, task)} | " + " | ".join(cells) + f" | {growth} |")
    lines += ["", SCALING_END]
    return "\n".join(lines) + "\n"


def write_section(results_md: Path, text: str, begin: str, end: str) -> None:
    """Replace the section between `begin` and `end` (append it when absent)."""
    old = results_md.read_text(encoding="utf-8") if results_md.exists() else ""
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        _, tail = rest.split(end, 1)
        results_md.write_text(head + text.rstrip("\n") + tail, encoding="utf-8")
    else:
        results_md.write_text(old.rstrip("\n") + "\n\n" + text, encoding="utf-8")
