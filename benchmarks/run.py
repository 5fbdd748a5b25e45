"""KPI and funnel benchmark: revlens against a hand-written DuckDB SQL query and a pandas
version.

    make bench
    .venv/bin/python benchmarks/run.py [--sizes 1000000,10000000] [--repeat 3] [--quick]

For each size (demo contacts): generate the seeded demo data as Parquet once
(benchmarks/data/demo-<n>/), load it once into benchmarks/data/demo-<n>.duckdb, then run
every task in a fresh process (peak RSS per task from os.wait4; no cache carries over):

  revlens_all     the whole catalogue, month x channel, through run_kpis
  revlens_subset  the core subset (common.SUBSET), month x channel, through run_kpis
  hand_sql        hand.sql: the core subset as one DuckDB query
  pandas          pandas_impl.py: the core subset in straightforward pandas
  revlens_funnel  run_funnel: lead -> customer, cohort mode, monthly cohorts x channel
  hand_sql_funnel hand_funnel.sql: the same funnel as one DuckDB query
  pandas_funnel   pandas_funnel.py: the same funnel in straightforward pandas

The KPI tasks must agree on every (month, channel, KPI) value of the core subset (money to
the cent, rates to 1e-9), the funnel tasks on every (cohort month, channel, stage) count
(exactly) and conversion rate and time to convert (to 1e-9); the run fails loudly when
they do not. The figures go to the measured sections of benchmarks/RESULTS.md, one for the
KPIs and one for the funnel, each written only when its tasks ran (not with --quick, a
20,000-contact smoke test that doubles as the self-check). Raw timings:
benchmarks/data/results-<n>.json (KPIs) and results-funnel-<n>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import attribution_bench as ab  # noqa: E402
import common  # noqa: E402
import paths  # noqa: E402
import prepare  # noqa: E402

PY = sys.executable
KPI_TASKS = ("revlens_all", "revlens_subset", "hand_sql", "pandas", "spark_subset", "spark_all")
FUNNEL_TASKS = ("revlens_funnel", "hand_sql_funnel", "pandas_funnel", "spark_funnel")
ATTRIBUTION_TASKS = ab.PATH_TASKS + ab.RAW_TASKS + ("spark_attr_customer",)
TASKS = KPI_TASKS + FUNNEL_TASKS + ATTRIBUTION_TASKS
# by default Spark runs the core subset: the whole catalogue (64 KPIs) on Spark local takes
# longer than a `make bench` can wait (`--tasks spark_all` runs it)
DEFAULT_TASKS = tuple(t for t in TASKS if t != "spark_all")
LABELS = {
    "revlens_all": "revlens, whole catalogue",
    "revlens_subset": "revlens, core subset",
    "hand_sql": "hand-written SQL, core subset",
    "pandas": "pandas, core subset",
    "revlens_funnel": "revlens, funnel",
    "hand_sql_funnel": "hand-written SQL, funnel",
    "pandas_funnel": "pandas, funnel",
    **ab.LABELS,
}
RESULTS = HERE / "RESULTS.md"


@dataclass(frozen=True)
class Family:
    """Tasks computing the same values, compared with each other and reported together."""

    name: str
    tasks: tuple[str, ...]
    reference: str  # the hand-written query: the "x hand SQL" column
    pandas: str
    keys: tuple[str, ...]  # the value names every task must give, over months x channels
    agreement: str  # what the agreement covers, for the report
    begin: str  # the markers of its measured section in RESULTS.md
    end: str
    raw: str  # prefix of its raw results file


KPI = Family(
    "kpi",
    KPI_TASKS,
    "hand_sql",
    "pandas",
    common.SUBSET,
    "every (month, channel, KPI) of the core subset (money to the cent, rates to 1e-9)",
    "<!-- measured: written by benchmarks/run.py -->",
    "<!-- /measured -->",
    "results-",
)
FUNNEL = Family(
    "funnel",
    FUNNEL_TASKS,
    "hand_sql_funnel",
    "pandas_funnel",
    common.FUNNEL_KEYS,
    "every (cohort month, channel, stage): count and dropped exactly; conversion from the"
    " first and from the previous stage, median, mean and p90 days to 1e-9",
    "<!-- measured-funnel: written by benchmarks/run.py -->",
    "<!-- /measured-funnel -->",
    "results-funnel-",
)
FAMILIES = (KPI, FUNNEL)
GOAL_SQL, GOAL_PANDAS, GOAL_MB = 1.2, 3.0, 8 * 1024
QUIET = 0.10  # start a task when other processes use less than this share of the CPUs
NOISY = 0.25  # a run during which others used more than this is repeated (up to RETRIES)
RETRIES = 2  # default of --retries
# pandas' peak memory per touchpoints row, measured at 1M contacts (KPIs: 6.8 GB / 12.7 M
# rows; funnel: 5,370 MB / 12.7 M rows); used to estimate a size before it is run when no
# smaller size was measured.
PANDAS_BYTES_PER_TOUCHPOINT = {"pandas": 560, "pandas_funnel": 440}


def log(msg: str) -> None:
    print(msg, flush=True)


# -- the machine --------------------------------------------------------------------------
def meminfo() -> dict[str, int]:
    out = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        name, value = line.split(":", 1)
        out[name] = int(value.split()[0]) * 1024
    return out


def duckdb_memory_limit() -> str:
    """The memory_limit every task's DuckDB connection gets (revlens' setting)."""
    sys.path.insert(0, str(HERE.parent / "src"))
    from revlens.engines.duckdb import memory_limit

    chosen = os.environ.get("REVLENS_MEMORY_LIMIT")
    return f"{chosen} (--memory-limit)" if chosen else f"{memory_limit()} (revlens' default)"


def machine() -> dict[str, str]:
    info: dict[str, str] = {}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if ":" in line:
            key, value = (x.strip() for x in line.split(":", 1))
            info.setdefault(key, value)
    cpu = info.get("model name", "unknown")
    if "cpu family" in info:
        cpu += f" (family {info['cpu family']}, model {info.get('model')}"
        cpu += f", stepping {info.get('stepping')}"
        cpu += ", virtual machine)" if "hypervisor" in info.get("flags", "") else ")"
    os_name = platform.system()
    release = Path("/etc/os-release")
    if release.exists():
        for line in release.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    versions = ", ".join(
        f"{p} {_version(p)}"
        for p in (
            "duckdb", "ibis-framework", "sqlglot", "pandas", "pyarrow", "numpy", "scipy",
            "pyspark",
        )
    )  # fmt: skip
    return {
        "revlens": revlens_version(),
        "CPU": cpu,
        "cores": f"{os.cpu_count()} logical CPUs (DuckDB uses all of them)",
        "RAM": f"{meminfo()['MemTotal'] / 2**30:.1f} GiB, no swap"
        if meminfo().get("SwapTotal", 0) == 0
        else f"{meminfo()['MemTotal'] / 2**30:.1f} GiB",
        "OS": f"{os_name}, Linux {platform.release()}",
        "Python": platform.python_version(),
        "packages": versions,
        "Java (Spark)": java_version(),
    }


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def java_version() -> str:
    import shutil

    if shutil.which("java") is None:
        return "none"
    out = subprocess.run(["java", "-version"], capture_output=True, text=True)
    return (out.stderr or out.stdout).splitlines()[0] if (out.stderr or out.stdout) else "?"


def revlens_version() -> str:
    root = HERE.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "src"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "unknown (no git)"
    return f"commit {head}" + (" + uncommitted changes in src/" if dirty else ", src/ clean")


# -- one task in a fresh process ------------------------------------------------------------
@dataclass
class Run:
    task: str
    seconds: float | None = None
    wall: float | None = None
    peak_mb: float | None = None
    rows: int | None = None
    cpu: float | None = None  # user + system seconds of the whole child process
    others: float | None = None  # share of the machine's CPU used by other processes
    values: common.Values = field(default_factory=dict)
    credit: ab.Credit = field(default_factory=dict)  # attribution tasks
    phases: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. ChannelAttribution's log
    error: str | None = None

    @property
    def noisy(self) -> bool:
        return self.others is not None and self.others > NOISY


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = f[3] + f[4]
    return sum(f[:8]) - idle, sum(f[:8])


def wait_quiet(max_wait: float) -> float:
    """Wait (up to max_wait seconds) until other processes use under QUIET of the CPUs over
    two seconds; returns the last share seen. Another user of the machine (tests, builds)
    would otherwise inflate the timings."""
    deadline = time.monotonic() + max_wait
    while True:
        b0, t0 = cpu_ticks()
        time.sleep(2)
        b1, t1 = cpu_ticks()
        share = (b1 - b0) / max(1, t1 - t0)
        if share < QUIET or time.monotonic() > deadline:
            return share
        log(f"    (machine busy: {share:.0%} CPU in use by others; waiting)")
        time.sleep(5)


class Tree:
    """A process and its descendants, sampled from /proc: resident memory (their sum, and
    its peak) and CPU seconds (each one's last seen user + system time)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_rss = 0
        self.ticks: dict[int, int] = {}
        self.members: list[int] = [pid]

    def _descendants(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
        out, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo.extend(children.get(pid, []))
        return out

    def sample(self) -> int | None:
        """The tree's resident bytes now; None when the process is gone."""
        if not Path(f"/proc/{self.pid}").exists():
            return None
        self.members = self._descendants()
        total = 0
        for pid in self.members:
            try:
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(stat[21]) * os.sysconf("SC_PAGE_SIZE")  # rss, in pages
            self.ticks[pid] = int(stat[11]) + int(stat[12])  # utime + stime
        self.peak_rss = max(self.peak_rss, total)
        return total

    def cpu_seconds(self) -> float:
        return sum(self.ticks.values()) / os.sysconf("SC_CLK_TCK")

    def kill_descendants(self) -> None:
        for pid in self.members:
            if pid != self.pid:
                with contextlib.suppress(OSError):
                    os.kill(pid, 9)


def run_task(task: str, db: Path, cap_bytes: int, timeout: float, python: str = PY) -> Run:
    """Run tasks.py TASK (peer_ca.py for ChannelAttribution, with the peers' `python`) in a
    child process; kill it (by its pid) when its resident memory passes cap_bytes or it
    runs past the timeout."""
    script = "peer_ca.py" if task in ab.PEER_TASKS else "tasks.py"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        busy0, total0 = cpu_ticks()
        # Spark writes progress bars and warnings to stderr: kept in a file, shown on failure
        err_path = Path(tmp) / "stderr.txt"
        err = err_path.open("wb") if task in ab.SPARK_TASKS else None
        proc = subprocess.Popen([python, str(HERE / script), task, str(db), str(out)], stderr=err)
        killed: list[str] = []
        done = threading.Event()

        tree = Tree(proc.pid)

        def watch() -> None:
            start = time.monotonic()
            while not done.wait(0.25):
                rss = tree.sample()
                if rss is None:
                    return
                if rss > cap_bytes:
                    killed.append(f"killed: resident memory passed {cap_bytes / 2**30:.1f} GiB")
                elif time.monotonic() - start > timeout:
                    killed.append(f"killed: still running after {timeout:.0f} s")
                if killed:
                    tree.kill_descendants()
                    proc.kill()
                    return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        watcher.join()
        busy1, total1 = cpu_ticks()
        # Spark's JVM is the Python child's child and is not waited for: its CPU and memory
        # are not in the rusage, so the sampled process tree's are taken when larger
        cpu = max(usage.ru_utime + usage.ru_stime, tree.cpu_seconds())
        peak = max(usage.ru_maxrss * 1024, tree.peak_rss)
        hz = os.sysconf("SC_CLK_TCK")
        others = max(0.0, (busy1 - busy0) / hz - cpu) / max(1e-9, (total1 - total0) / hz)
        run = Run(task, peak_mb=peak / 2**20, cpu=cpu, others=others)
        if err is not None:
            err.close()
        if killed or proc.returncode != 0 or not out.exists():
            run.error = killed[0] if killed else f"exit code {proc.returncode}"
            if err is not None:
                log("\n".join(err_path.read_text(errors="replace").splitlines()[-15:]))
            return run
        data = json.loads(out.read_text())
    if "peak_mb" in data:  # the task's own peak (VmHWM), or its process tree's (Spark's JVM)
        run.peak_mb = max(data["peak_mb"], tree.peak_rss / 2**20)
    run.seconds, run.wall, run.rows = data["seconds"], data["wall_seconds"], data["rows"]
    run.values = common.from_records(data.get("values", []))
    run.credit = data.get("credit", {})
    run.phases = data.get("phases", {})
    run.extra = {k: data[k] for k in ("log", "args", "versions", "noise") if k in data}
    return run


# -- per size -------------------------------------------------------------------------------
@dataclass
class SizeResult:
    contacts: int
    counts: dict[str, int]
    runs: dict[str, list[Run]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # task -> why it did not finish
    problems: dict[str, list[str]] = field(default_factory=dict)  # family -> differences
    profile: dict[str, dict[str, float]] = field(default_factory=dict)  # family -> steps
    compared: dict[str, int] = field(default_factory=dict)  # family -> values compared
    notes: dict[str, str] = field(default_factory=dict)

    def ok_runs(self, task: str) -> list[Run]:
        """The successful runs; the noisy ones only when there is no other."""
        ok = [r for r in self.runs.get(task, []) if r.error is None]
        clean = [r for r in ok if not r.noisy]
        return clean or ok

    def cpu(self, task: str) -> float | None:
        cpus = [r.cpu for r in self.ok_runs(task) if r.cpu is not None]
        return statistics.median(cpus) if cpus else None

    def median(self, task: str) -> float | None:
        secs = [r.seconds for r in self.ok_runs(task) if r.seconds is not None]
        return statistics.median(secs) if secs else None

    def best(self, task: str) -> float | None:
        secs = [r.seconds for r in self.ok_runs(task) if r.seconds is not None]
        return min(secs) if secs else None

    def peak(self, task: str) -> float | None:
        peaks = [r.peak_mb for r in self.runs.get(task, []) if r.peak_mb is not None]
        return max(peaks) if peaks else None


def row_counts(db: Path) -> dict[str, int]:
    import duckdb

    from_schema = [
        "contacts", "touchpoints", "identities", "stage_events", "opportunities",
        "opportunity_stage_events", "sales_activities", "spend", "email_events",
        "audience_snapshots", "social_posts", "meetings", "inbound_requests",
        "subscriptions", "targets", "fx_rates",
    ]  # fmt: skip
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in from_schema}
    finally:
        con.close()


def pandas_estimate(
    task: str, contacts: int, counts: dict[str, int], done: list[SizeResult]
) -> float:
    """Expected peak bytes of a pandas task: scaled from the largest smaller size that ran,
    else from the touchpoints row count."""
    measured = [(s.contacts, s.peak(task)) for s in done if s.peak(task) and s.contacts < contacts]
    if measured:
        n, mb = max(measured)
        assert mb is not None
        return mb * 2**20 * contacts / n * 1.1
    return counts["touchpoints"] * PANDAS_BYTES_PER_TOUCHPOINT[task] * 1.1


def families(tasks: tuple[str, ...] | list[str]) -> list[Family]:
    return [f for f in FAMILIES if any(t in f.tasks for t in tasks)]


def agreement(res: SizeResult, fam: Family, todo: list[str]) -> list[str]:
    """The differences between the first good run of every task of `fam` (the hand-written
    query first), and any task that does not give the full grid of months x channels."""
    ran = [t for t in fam.tasks if t in todo]
    results = {t: res.ok_runs(t)[0].values for t in ran if res.ok_runs(t)}
    if fam.reference in results:  # the reference first
        results = {fam.reference: results[fam.reference], **results}
    problems = common.compare(results, fam.keys)
    if not any(results.values()):
        problems.append("no results at all")
    n_months = len(common.months())
    for name, values in results.items():
        grid = {(k, c) for (k, _, c) in values}
        names = {k for k, _ in grid}
        if names != set(fam.keys):
            problems.append(f"{name}: {sorted(set(fam.keys) - names)} missing")
        if len(values) != n_months * len(grid):
            problems.append(f"{name}: {len(values)} values, not months x channels")
    res.compared[fam.name] = len(next(iter(results.values()))) if results else 0
    return problems


def run_repeated(
    res: SizeResult,
    todo: list[str],
    sources: dict[str, tuple[Path, str]],
    repeat: int,
    cap: int,
    args: Any,
) -> None:
    """Every task of `todo` `repeat` times, in turn, each run in a fresh process; a run
    during which other processes were busy is repeated (up to RETRIES)."""
    for i in range(repeat):
        for task in todo:
            source, python = sources[task]
            for attempt in range(args.retries + 1):
                if not args.quick:
                    wait_quiet(args.quiet_wait)
                limit = args.spark_timeout if task in ab.SPARK_TASKS else args.timeout
                run = run_task(task, source, cap, limit, python)
                res.runs.setdefault(task, []).append(run)
                if run.error:
                    log(f"  [{i + 1}/{repeat}] {task:<15} FAILED ({run.error})")
                    break
                log(
                    f"  [{i + 1}/{repeat}] {task:<15} {run.seconds:8.2f} s  cpu {run.cpu:7.1f} s"
                    f"  peak {run.peak_mb:7.0f} MB  rows {run.rows}"
                    f"  others {run.others:4.0%}{'  (noisy, again)' if run.noisy else ''}"
                )
                if not run.noisy or args.quick or attempt >= args.retries:
                    break
    res.failures.update({t: str(res.runs[t][0].error) for t in todo if not res.ok_runs(t)})


def bench_paths(tasks: tuple[str, ...], args: Any) -> SizeResult | None:
    """The path-file tasks: revlens and ChannelAttribution on one synthetic file."""
    todo = [t for t in tasks if t in ab.PATH_TASKS]
    if not todo:
        return None
    rows = 20_000 if args.quick else args.path_rows
    log(f"\n=== path file: {rows:,} aggregated paths ===")
    # in a child process: the runner stays small, and a child's peak RSS (ru_maxrss)
    # starts from the size of the process it was forked from
    subprocess.run([PY, str(HERE / "paths.py"), str(rows)], check=True, capture_output=True)
    source = paths.path_file(rows)
    res = SizeResult(rows, {"paths": rows})
    python, why = ab.ensure_peers()
    for task in ab.PEER_TASKS:
        if task in todo and python is None:
            res.skipped[task] = f"not run: the peers' venv is not available ({why})"
            log(f"{task} skipped: {res.skipped[task]}")
            todo.remove(task)
    sources = {t: (source, python if t in ab.PEER_TASKS and python else PY) for t in todo}
    if python:
        res.notes["peers"] = ab.peer_versions(python)
    cap = int(meminfo()["MemAvailable"] * 0.85)
    with source.open("rb") as f:  # into the page cache, so no task pays for the disk
        while f.read(1 << 24):
            pass
    run_repeated(res, todo, sources, args.repeat or 1, cap, args)
    if "ca_markov" in todo and "revlens_paths_markov" in todo:  # CA's noise, for the check
        sources["ca_markov_noise"] = sources["ca_markov"]
        run_repeated(res, ["ca_markov_noise"], sources, 1, cap, args)
    res.problems["attribution"] = ab.check_paths(res)
    return res


def bench_size(
    contacts: int, tasks: tuple[str, ...], repeat: int, done: list[SizeResult], args: Any
) -> SizeResult:
    log(f"\n=== {contacts:,} contacts ===")
    subprocess.run([PY, str(HERE / "prepare.py"), str(contacts)], check=True)
    db = prepare.db_path(contacts)
    res = SizeResult(contacts, row_counts(db))
    log("rows: " + ", ".join(f"{k} {v:,}" for k, v in res.counts.items()))
    avail = meminfo()["MemAvailable"]
    cap = int(avail * 0.85)
    todo = [t for t in tasks if t not in ab.PATH_TASKS]
    if contacts in args.scaling_only:
        todo = [t for t in todo if t in ab.SCALING_TASKS]
    if contacts not in args.attribution_sizes and not args.quick:  # the goal task only
        todo = [t for t in todo if t not in ab.RAW_TASKS or t == "revlens_attr_customer"]
    sources = {t: (db, PY) for t in todo}
    spark = [t for t in todo if t in ab.SPARK_TASKS]
    if spark and contacts not in args.spark_sizes and not args.quick:
        todo = [t for t in todo if t not in spark]
    elif spark:
        why = spark_unavailable()
        if why:
            for task in spark:
                res.skipped[task] = f"not run: {why}"
                todo.remove(task)
            log(f"Spark tasks skipped: {why}")
        else:
            subprocess.run([PY, str(HERE / "prepare.py"), "--lake", str(contacts)], check=True)
            sources.update({t: (prepare.lake_path(contacts), PY) for t in spark})
    for task in ("pandas", "pandas_funnel"):
        if task not in todo or args.force_pandas:
            continue
        need = pandas_estimate(task, contacts, res.counts, done)
        if need > cap:
            res.skipped[task] = (
                f"not run: expected peak memory {need / 2**30:.0f} GiB (scaled from the "
                f"smaller size) exceeds 85% of the available {avail / 2**30:.0f} GiB"
            )
            log(f"{task} skipped: {res.skipped[task]}")
            todo.remove(task)
    local = [t for t in todo if t not in ab.SPARK_TASKS and t not in ATTRIBUTION_TASKS]
    run_repeated(res, local, sources, repeat, cap, args)
    # attribution and Spark once by default: their runs are long (minutes at 10M)
    once = [t for t in todo if t in ATTRIBUTION_TASKS or t in ab.SPARK_TASKS]
    run_repeated(res, once, sources, args.repeat or 1, cap, args)
    for task in [t for t in todo if t in ab.SPARK_TASKS and t in res.failures]:
        if "still running" in res.failures[task]:  # a measured result, not a failure
            res.skipped[task] = f"stopped: {res.failures.pop(task)} (--spark-timeout)"
            log(f"{task}: {res.skipped[task]}")
    for fam in families(todo):
        res.problems[fam.name] = agreement(res, fam, todo)
    if any(t in todo for t in ATTRIBUTION_TASKS):
        res.problems["attribution"] = ab.check_raw(res)
    if args.profile and not args.quick and contacts not in args.scaling_only:
        if any(t in todo for t in ("revlens_all", "revlens_subset")):
            wait_quiet(args.quiet_wait)
            res.profile["kpi"] = run_profile(db, "profile_revlens.py")
        if "revlens_funnel" in todo:
            wait_quiet(args.quiet_wait)
            res.profile["funnel"] = run_profile(db, "profile_funnel.py")
    return res


def spark_unavailable() -> str | None:
    """Why Spark cannot run here (pyspark not installed, no Java), or None."""
    import importlib.util
    import shutil

    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (`.venv/bin/pip install -e '.[spark]'`)"
    if shutil.which("java") is None:
        return "no Java on the PATH (Spark needs Java 17+)"
    return None


def run_profile(db: Path, script: str) -> dict[str, float]:
    out = subprocess.run(
        [PY, str(HERE / script), str(db)], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# -- report ------------------------------------------------------------------------------------
def fmt(value: float | None, spec: str, none: str = "—") -> str:
    return none if value is None else format(value, spec)


def table(results: list[SizeResult], fam: Family = KPI) -> str:
    head = (
        "| contacts | task | runs | seconds (median) | best | CPU s | peak RSS (MB) "
        "| × hand SQL | pandas ÷ task |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = []
    for s in results:
        sql, pd_ = s.median(fam.reference), s.median(fam.pandas)
        for task in fam.tasks:
            if task in s.skipped:
                what = s.skipped[task].split(":")[0]  # "not run" or "stopped"
                lines.append(f"| {s.contacts:,} | {LABELS[task]} | 0 | {what} | | | | | |")
                continue
            if task not in s.runs:
                continue
            med = s.median(task)
            if med is None:
                err = s.runs[task][0].error
                lines.append(f"| {s.contacts:,} | {LABELS[task]} | 0 | failed: {err} | | | | | |")
                continue
            vs_sql = med / sql if sql else None
            vs_pd = pd_ / med if pd_ else None
            lines.append(
                f"| {s.contacts:,} | {LABELS[task]} | {len(s.ok_runs(task))} | {med:.2f} "
                f"| {fmt(s.best(task), '.2f')} | {fmt(s.cpu(task), '.1f')} "
                f"| {fmt(s.peak(task), ',.0f')} "
                f"| {fmt(vs_sql, '.2f')} | {fmt(vs_pd, '.1f')} |"
            )
    return head + "\n".join(lines) + "\n"


def verdicts(results: list[SizeResult], fam: Family = KPI) -> list[str]:
    out = []
    revlens = ("revlens_subset",) if fam is KPI else ("revlens_funnel",)
    for s in results:
        sql, pd_ = s.median(fam.reference), s.median(fam.pandas)
        for task in revlens:
            med, peak = s.median(task), s.peak(task)
            if med is None:
                continue
            parts = []
            if sql:
                ok = med <= GOAL_SQL * sql
                parts.append(f"{med / sql:.2f}× hand SQL ({'meets' if ok else 'misses'} ≤ 1.2×)")
            if pd_:
                ok = pd_ >= GOAL_PANDAS * med
                parts.append(
                    f"{pd_ / med:.1f}× faster than pandas ({'meets' if ok else 'misses'} ≥ 3×)"
                )
            elif fam.pandas in s.skipped:
                parts.append("pandas not run")
            if peak is not None:
                ok = peak < GOAL_MB
                parts.append(f"peak {peak / 1024:.2f} GB ({'meets' if ok else 'misses'} < 8 GB)")
            out.append(f"- {s.contacts:,} contacts, {LABELS[task]}: " + "; ".join(parts))
        med_all, peak_all = s.median("revlens_all"), s.peak("revlens_all")
        if fam is KPI and med_all is not None and peak_all is not None:
            ok = peak_all < GOAL_MB
            out.append(
                f"- {s.contacts:,} contacts, {LABELS['revlens_all']}: {med_all:.1f} s; "
                f"peak {peak_all / 1024:.2f} GB ({'meets' if ok else 'misses'} < 8 GB)"
            )
    return out


# the tables each family reads, for the row counts of its section
FUNNEL_TABLES = ("contacts", "touchpoints", "identities", "stage_events", "opportunities")
PROFILE_INTRO = {
    "kpi": "Profile of the revlens core subset (`benchmarks/profile_revlens.py`: each"
    " step alone, in order, shared intermediates first):",
    "funnel": "Profile of the revlens funnel (`benchmarks/profile_funnel.py`: the steps"
    " `run_funnel` builds, each materialised and timed alone, in order):",
}


def report(
    results: list[SizeResult], argv: list[str], started: dt.datetime, fam: Family = KPI
) -> str:
    m = machine()
    command = " ".join(["benchmarks/run.py", *argv])
    limit = duckdb_memory_limit()
    lines = [
        fam.begin,
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC with `{command}`; DuckDB memory_limit:"
        f" {limit}; DuckDB threads: its default (one per CPU).",
        "",
    ]
    lines += ["| machine | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in m.items()]
    lines += ["", "Rows per table (seed 42):", ""]
    names = [n for n in results[0].counts if fam is KPI or n in FUNNEL_TABLES]
    lines.append("| table | " + " | ".join(f"{s.contacts:,} contacts" for s in results) + " |")
    lines.append("|---|" + "---:|" * len(results))
    for n in names:
        lines.append(f"| {n} | " + " | ".join(f"{s.counts[n]:,}" for s in results) + " |")
    lines += [
        "",
        "Seconds are the task's own time in a fresh process: open the warehouse, compute,"
        " have the values in Python (imports and interpreter start-up excluded). Peak RSS is"
        " the task process's own high-water mark (`VmHWM`), or its process tree's (Spark's"
        " JVM, sampled every 0.25 s) when larger, the largest over the repeats."
        " `× hand SQL` = task / hand SQL (goal ≤ 1.2 for revlens); `pandas ÷ task` ="
        " pandas / task (goal ≥ 3).",
        "",
        table(results, fam),
    ]
    for s in results:
        for task, why in s.skipped.items():
            if task in fam.tasks:
                lines.append(f"- {s.contacts:,} contacts, {task}: {why}.")
    lines += ["", "Goals:", "", *verdicts(results, fam), ""]
    lines.append(f"Agreement on {fam.agreement}:")
    lines.append("")
    for s in results:
        ran = [t for t in fam.tasks if s.ok_runs(t)]
        problems = s.problems.get(fam.name, [])
        status = "all agree" if not problems else f"{len(problems)} values DIFFER"
        lines.append(
            f"- {s.contacts:,} contacts: {status} ({s.compared.get(fam.name, 0):,} values"
            " compared across "
            + ", ".join(LABELS[t] for t in ran)
            + ")"
            + "".join(f"; {t} failed: {e}" for t, e in s.failures.items() if t in fam.tasks)
        )
    profiled = [s for s in results if s.profile.get(fam.name)]
    if profiled:
        lines += ["", PROFILE_INTRO[fam.name], ""]
        lines.append("| step | " + " | ".join(f"{s.contacts:,}" for s in profiled) + " |")
        lines.append("|---|" + "---:|" * len(profiled))
        for step in profiled[0].profile[fam.name]:
            lines.append(
                f"| {step} | "
                + " | ".join(f"{s.profile[fam.name].get(step, 0):.2f} s" for s in profiled)
                + " |"
            )
        lines.append(
            "| total | "
            + " | ".join(f"{sum(s.profile[fam.name].values()):.2f} s" for s in profiled)
            + " |"
        )
    lines += ["", fam.end]
    return "\n".join(lines) + "\n"


def write_results(text: str, fam: Family = KPI) -> None:
    """Replace the family's measured section of RESULTS.md (append it when it is not there);
    the rest of the file is left as it is."""
    if RESULTS.exists():
        old = RESULTS.read_text(encoding="utf-8")
        if fam.begin in old and fam.end in old:
            head, rest = old.split(fam.begin, 1)
            _, tail = rest.split(fam.end, 1)
            RESULTS.write_text(head + text.rstrip("\n") + tail, encoding="utf-8")
            return
        RESULTS.write_text(old.rstrip("\n") + "\n\n" + text, encoding="utf-8")
        return
    RESULTS.write_text("# KPI benchmark results\n\n" + text, encoding="utf-8")


def save_raw(s: SizeResult, tag: str, fam: Family) -> None:
    path = prepare.DATA / f"{fam.raw}{tag}{s.contacts}.json"
    path.write_text(
        json.dumps(
            {
                "contacts": s.contacts,
                "counts": s.counts,
                "runs": {
                    t: [{k: v for k, v in r.__dict__.items() if k != "values"} for r in rs]
                    for t, rs in s.runs.items()
                    if t in fam.tasks
                },
                "skipped": {t: why for t, why in s.skipped.items() if t in fam.tasks},
                "failures": {t: why for t, why in s.failures.items() if t in fam.tasks},
                "problems": s.problems.get(fam.name, []),
                "profile": s.profile.get(fam.name, {}),
            },
            indent=1,
        )
    )


def header(argv: list[str], started: dt.datetime) -> list[str]:
    """The run and the machine, for a measured section."""
    command = " ".join(["benchmarks/run.py", *argv])
    lines = [
        f"Measured {started:%Y-%m-%d %H:%M} UTC with `{command}`; DuckDB memory_limit:"
        f" {duckdb_memory_limit()}; DuckDB threads: its default (one per CPU).",
        "",
        "| machine | |",
        "|---|---|",
    ]
    return lines + [f"| {k} | {v} |" for k, v in machine().items()]


def save_attribution_raw(s: SizeResult, tag: str) -> None:
    path = prepare.DATA / f"results-attribution-{tag}{s.contacts}.json"
    wanted = set(ATTRIBUTION_TASKS)
    path.write_text(
        json.dumps(
            {
                "size": s.contacts,
                "runs": {
                    t: [{k: v for k, v in r.__dict__.items() if k != "values"} for r in rs]
                    for t, rs in s.runs.items()
                    if t in wanted
                },
                "skipped": {t: why for t, why in s.skipped.items() if t in wanted},
                "failures": {t: why for t, why in s.failures.items() if t in wanted},
                "problems": s.problems.get("attribution", []),
                "notes": s.notes,
            },
            indent=1,
        )
    )


def check_comparator() -> list[str]:
    """The comparison must see a one-cent, a 1e-8 and a null-vs-0 difference, a missing
    row, and a funnel count off by one or a funnel rate off by 1e-8; part of the --quick
    self-check."""
    day = common.START
    base: common.Values = {
        ("revenue", day, "email"): 100.0,
        ("win_rate", day, "email"): 0.25,
        ("cpl", day, None): None,
        ("leads", day, "direct"): 0.0,
        ("mql.count", day, "email"): 1234.0,
        ("mql.conversion_from_first", day, "email"): 0.25,
        ("sql.dropped", day, None): 0.0,
    }
    bad = []
    for key, value in (
        (("revenue", day, "email"), 100.01),
        (("win_rate", day, "email"), 0.25 + 1e-8),
        (("cpl", day, None), 0.0),
        (("leads", day, "direct"), None),
        (("mql.count", day, "email"), 1235.0),
        (("mql.count", day, "email"), 1234.0 + 1e-9),
        (("mql.conversion_from_first", day, "email"), 0.25 + 1e-8),
        (("sql.dropped", day, None), None),
    ):
        wanted = (key[0],)
        if not common.compare({"a": base, "b": {**base, key: value}}, wanted):
            bad.append(f"the comparison missed {key}: {base[key]} vs {value}")
    missing = dict(base)
    del missing[("leads", day, "direct")]
    if not common.compare({"a": base, "b": missing}):
        bad.append("the comparison missed a missing row")
    del missing[("mql.count", day, "email")]
    if not common.compare({"a": base, "b": missing}, common.FUNNEL_KEYS):
        bad.append("the comparison missed a missing funnel row")
    if common.compare({"a": base, "b": {**base, ("revenue", day, "email"): 100.004}}):
        bad.append("the comparison should accept money within the cent")
    return bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="1000000,3000000,10000000", help="contacts, comma separated")
    ap.add_argument(
        "--scaling-only",
        default="3000000",
        help="sizes at which only the scaling tasks run (revlens subset, funnel, attribution)",
    )
    ap.add_argument("--spark-sizes", default="1000000", help="sizes at which the Spark tasks run")
    ap.add_argument(
        "--attribution-sizes",
        default="1000000",
        help="sizes at which revenue and timed attribution run too (elsewhere: customer only)",
    )
    ap.add_argument(
        "--path-rows", type=int, default=paths.ROWS, help="rows of the synthetic path file"
    )
    ap.add_argument(
        "--repeat", type=int, default=None, help="runs per task (default 3; 1 above 1M)"
    )
    ap.add_argument(
        "--tasks", default=",".join(DEFAULT_TASKS), help="comma separated subset of tasks"
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="20,000 contacts, once each: a smoke test and self-check",
    )
    ap.add_argument(
        "--force-pandas",
        action="store_true",
        help="run pandas even when its estimated memory exceeds the available",
    )
    ap.add_argument(
        "--no-profile",
        dest="profile",
        action="store_false",
        help="skip the per-step profile of revlens",
    )
    ap.add_argument(
        "--no-write", dest="write", action="store_false", help="do not update benchmarks/RESULTS.md"
    )
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per task")
    ap.add_argument("--spark-timeout", type=float, default=900.0, help="seconds per Spark task")
    ap.add_argument(
        "--retries",
        type=int,
        default=RETRIES,
        help="times a run during which other processes were busy is repeated",
    )
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=600.0,
        help="seconds to wait, before each task, for other processes to go quiet",
    )
    ap.add_argument(
        "--memory-limit",
        default=None,
        help="DuckDB memory_limit for every task (e.g. 6GB), as REVLENS_MEMORY_LIMIT; "
        "default: revlens' (6GB, or 80%% of RAM when that is less)",
    )
    args = ap.parse_args(argv)
    args.scaling_only = {int(x) for x in args.scaling_only.replace("_", "").split(",") if x}
    args.spark_sizes = {int(x) for x in args.spark_sizes.replace("_", "").split(",") if x}
    args.attribution_sizes = {
        int(x) for x in args.attribution_sizes.replace("_", "").split(",") if x
    }
    if args.memory_limit:
        os.environ["REVLENS_MEMORY_LIMIT"] = args.memory_limit
    started = dt.datetime.now(dt.UTC)
    sizes = (
        [20_000]
        if args.quick
        else sorted(int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip())
    )
    tasks = tuple(t for t in args.tasks.split(",") if t)
    if args.quick and args.tasks == ",".join(DEFAULT_TASKS):  # Spark is slow to start
        tasks = tuple(t for t in tasks if t not in ab.SPARK_TASKS)
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        ap.error(f"unknown tasks {unknown}; choose from {', '.join(TASKS)}")
    if args.quick:
        broken = check_comparator()
        if any(t in FUNNEL_TASKS for t in tasks):
            import funnel_cases  # hand-built journeys: edge cases the demo data lacks

            broken += [f"funnel cases: {p}" for p in funnel_cases.check()]
        broken += [f"attribution checks: {p}" for p in ab.self_check()]
        if any(t in ab.RAW_TASKS for t in tasks):
            subprocess.run([PY, str(HERE / "prepare.py"), "20000"], check=True)
            db = str(prepare.db_path(20_000))
            check = [PY, str(HERE / "attribution_tasks.py"), db]  # not in the runner: see above
            done = subprocess.run(check, capture_output=True, text=True)
            if done.returncode != 0:
                broken.append(f"attribution task: {done.stdout.strip()} {done.stderr[-500:]}")
        for line in broken:
            log(f"!!! self-check: {line}")
        if broken:
            return 1
    ran = families(tasks)
    results: list[SizeResult] = []
    paths_res = bench_paths(tasks, args)
    if paths_res is not None:
        save_attribution_raw(paths_res, "paths-")
    for n in sizes:
        repeat = args.repeat or (1 if args.quick or n > 1_000_000 else 3)
        res = bench_size(n, tasks, repeat, results, args)
        results.append(res)
        tag = ("quick-" if args.quick else "") + (
            f"mem{args.memory_limit}-" if args.memory_limit else ""
        )
        for fam in ran:
            save_raw(res, tag, fam)
        if any(t in ATTRIBUTION_TASKS for t in tasks):
            save_attribution_raw(res, tag)
    for fam in ran:
        log("")
        log(table(results, fam))
        for line in verdicts(results, fam):
            log(line)
    attribution = any(t in ATTRIBUTION_TASKS for t in tasks)
    if attribution:
        log("")
        if paths_res is not None:
            log(ab.paths_table(paths_res))
        if any(t in r.runs for r in results for t in ATTRIBUTION_TASKS):
            log(ab.raw_table(results))
        for line in ab.goals(paths_res, results):
            log(line)
    growth = ab.scaling(results, LABELS)
    if growth:
        log("\n" + growth)
    everything = ([paths_res] if paths_res is not None else []) + results
    failed = [s for s in everything if any(s.problems.values()) or s.failures]
    for s in failed:
        for t, why in s.failures.items():
            log(f"\n!!! {s.contacts:,} contacts: {t} failed: {why}")
        for name, problems in s.problems.items():
            if not problems:
                continue
            log(f"\n!!! {s.contacts:,} contacts: the {name} implementations DISAGREE:")
            for p in problems[:50]:
                log(f"!!!   {p}")
            if len(problems) > 50:
                log(f"!!!   ... and {len(problems) - 50} more")
    if args.write and not args.quick:
        args_shown = sys.argv[1:] if argv is None else argv
        for fam in ran:
            write_results(report(results, args_shown, started, fam), fam)
        if attribution:
            text = ab.report(paths_res, results, header(args_shown, started), "")
            ab.write_section(RESULTS, text, ab.BEGIN, ab.END)
        if growth:
            ab.write_section(RESULTS, growth, ab.SCALING_BEGIN, ab.SCALING_END)
        log(f"\nwrote {RESULTS}")
    if failed:
        log("\nFAILED")
        return 1
    what = ", ".join(
        [{"kpi": "the KPI core subset", "funnel": "the funnel"}[f.name] for f in ran]
        + (["attribution"] if attribution else [])
    )
    log(
        f"\nself-check OK: every task ran and all agree on {what}"
        if args.quick
        else f"\nOK: all implementations agree on {what}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
