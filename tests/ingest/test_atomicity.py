"""An import is one transaction: `--on-error abort`, an error in a later file, Ctrl-C or a
killed process leave every table, the rejects store and the import log exactly as before."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from revlens.errors import InputFileError
from revlens.ingest.load import import_files
from revlens.model.warehouse import Warehouse

Writer = Callable[[str, str | bytes], Path]
REVLENS = Path(sys.executable).parent / "revlens"

pytestmark = pytest.mark.skipif(not REVLENS.exists(), reason="the revlens script is not installed")


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "REVLENS_WAREHOUSE"}
    env.update(COLUMNS="400", NO_COLOR="1", TERM="dumb")
    return env


def base_warehouse(path: Path, write: Writer) -> None:
    """A warehouse with contacts, touchpoints, a reject and two import-log rows."""
    with Warehouse.open(path, create=True) as wh:
        import_files(
            wh,
            [
                write(
                    "base_contacts.csv",
                    "contact_id,created_at,owner\nc1,2024-01-01,ann\n"
                    "c2,2024-01-02,bob\nc3,oops,cy\n",
                )
            ],
            table="contacts",
        )
        import_files(
            wh,
            [
                write(
                    "base_tp.csv",
                    "touchpoint_id,ts,channel\nt0,2024-01-01,old\nt1,2024-01-01,old\n"
                    "x1,2024-01-01,keep\n",
                )
            ],
            table="touchpoints",
        )


def touchpoints_csv(path: Path, rows: int) -> None:
    with path.open("w") as fh:
        fh.write("touchpoint_id,ts,contact_id,channel,campaign,touch_type,pageviews\n")
        fh.writelines(
            f"t{i},2024-01-{1 + i % 28:02d} {i % 24:02d}:00:00,c{i % 5000},ch{i % 7},"
            f"camp{i % 31},session,{i % 9}\n"
            for i in range(rows)
        )


def test_cli_abort_with_one_bad_row_changes_nothing(
    tmp_path: Path, write: Writer, snapshot: Callable[..., Any], revlens: Callable[..., Any]
) -> None:
    db = tmp_path / "wh.duckdb"
    base_warehouse(db, write)
    with Warehouse.open(db) as wh:
        before = snapshot(wh)
    good = write("good.csv", "contact_id,created_at,owner\nc1,2024-06-01,zed\nc7,2024-06-01,x\n")
    bad = write(
        "bad.csv",
        "contact_id,created_at,owner\nc2,2024-06-01,y\nc8,2024-06-01,y\nc9,2024-02-30,y\n",
    )
    proc = revlens(
        "import", "--table", "contacts", "--on-error", "abort", str(good), str(bad), warehouse=db
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(
        f"error RL300 in {bad}: 1 of 3 rows break a rule; nothing was loaded\n"
    )
    assert f"{bad}:4 [contacts.created_at]" in proc.stderr
    assert "(value: '2024-02-30')" in proc.stderr
    with Warehouse.open(db) as wh:
        assert snapshot(wh) == before

    # the default policy loads the good rows of both files
    with Warehouse.open(db) as wh:
        import_files(wh, [good, bad], table="contacts")
        assert wh.row_counts()["contacts"] == 4  # c1, c2 updated; c7, c8 new


def test_an_error_in_a_later_file_rolls_back_the_earlier_ones(
    tmp_path: Path, write: Writer, snapshot: Callable[..., Any]
) -> None:
    db = tmp_path / "wh.duckdb"
    base_warehouse(db, write)
    good = write("good.csv", "contact_id,created_at\nc1,2024-06-01\nc7,2024-06-01\n")
    no_key = write("no_key.csv", "id,created_at\nc8,2024-06-01\n")
    with Warehouse.open(db) as wh:
        before = snapshot(wh)
        with pytest.raises(InputFileError) as info:
            import_files(wh, [good, no_key], table="contacts")
        assert info.value.code == "RL110"
        assert snapshot(wh) == before
    with Warehouse.open(db) as wh:
        assert snapshot(wh) == before


PAUSE_BEFORE_COMMIT = textwrap.dedent("""
    # Runs `revlens ARGS...`, but stops inside the import transaction once every row is
    # written (just before COMMIT), touches MARKER and waits to be killed.
    import sys, time
    from contextlib import contextmanager
    from pathlib import Path
    from revlens.model.warehouse import Warehouse

    marker = Path(sys.argv[1])
    original = Warehouse.transaction

    @contextmanager
    def paused_before_commit(self):
        with original(self):
            yield
            marker.write_text("rows written, not committed")
            time.sleep(120)

    Warehouse.transaction = paused_before_commit
    from revlens.cli.app import main
    sys.argv = ["revlens", *sys.argv[2:]]
    main()
""")


def start_paused_import(
    tmp_path: Path, db: Path, data: Path, *extra: str
) -> tuple[subprocess.Popen[str], Path]:
    script = tmp_path / "paused_import.py"
    script.write_text(PAUSE_BEFORE_COMMIT)
    marker = tmp_path / "marker"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(script),
            str(marker),
            "--warehouse",
            str(db),
            "import",
            "--table",
            "touchpoints",
            "--format",
            "json",
            *extra,
            str(data),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    deadline = time.monotonic() + 90
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _, err = proc.communicate()
            pytest.fail(f"the import never reached its commit (rc={proc.returncode}): {err}")
        time.sleep(0.02)
    return proc, marker


def test_ctrl_c_during_an_import_rolls_back(
    tmp_path: Path, write: Writer, snapshot: Callable[..., Any]
) -> None:
    """Ctrl-C an import that has written its rows but not committed them."""
    db = tmp_path / "wh.duckdb"
    base_warehouse(db, write)
    with Warehouse.open(db) as wh:
        before = snapshot(wh)
    data = tmp_path / "tp.csv"
    touchpoints_csv(data, 2_000)
    proc, _ = start_paused_import(tmp_path, db, data)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip() == "interrupted: nothing was changed by the unfinished command"
    assert out == ""
    with Warehouse.open(db) as wh:
        assert snapshot(wh) == before


def test_sigkill_just_before_commit_leaves_the_warehouse_as_before(
    tmp_path: Path, write: Writer, snapshot: Callable[..., Any]
) -> None:
    db = tmp_path / "wh.duckdb"
    base_warehouse(db, write)
    with Warehouse.open(db) as wh:
        before = snapshot(wh)
    data = tmp_path / "tp.csv"
    touchpoints_csv(data, 130_000)  # more than a row group: DuckDB writes uncommitted blocks
    proc, _ = start_paused_import(tmp_path, db, data)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    with Warehouse.open(db) as wh:
        assert snapshot(wh) == before
        # and the warehouse still takes imports
        small = write("small.csv", "touchpoint_id,ts,channel\nt0,2024-02-01,new\nt9,2024-02-01,n\n")
        result = import_files(wh, [small], table="touchpoints")
        assert [(c.loaded, c.updated) for c in result.files[0].tables] == [(1, 1)]


def test_sigkill_during_a_large_cli_import(
    tmp_path: Path, write: Writer, snapshot: Callable[..., Any]
) -> None:
    """The plain `revlens import` of a 200k-row file, killed while it writes: the warehouse
    file grows with uncommitted blocks before the WAL (the commit) appears."""
    db = tmp_path / "wh.duckdb"
    wal = db.with_name(db.name + ".wal")
    base_warehouse(db, write)
    with Warehouse.open(db) as wh:
        before = snapshot(wh)
    rows = 200_000
    data = tmp_path / "big.csv"
    touchpoints_csv(data, rows)
    assert not wal.exists()
    size0 = db.stat().st_size

    proc = subprocess.Popen(
        [
            str(REVLENS),
            "--warehouse",
            str(db),
            "import",
            "--table",
            "touchpoints",
            "--format",
            "json",
            str(data),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    started = time.monotonic()
    while proc.poll() is None and time.monotonic() - started < 90:
        if wal.exists() or db.stat().st_size > size0:
            break
        time.sleep(0.003)
    wal_before_kill = wal.exists()
    running = proc.poll() is None
    if running:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)

    with Warehouse.open(db) as wh:
        after = snapshot(wh, logs=False)
        fully_loaded = wh.row_counts()["touchpoints"] == rows + 1 and wh.con.execute(
            "SELECT count(*) FROM touchpoints WHERE channel = 'old'"
        ).fetchone() == (0,)
    unchanged = after == {k: v for k, v in before.items() if not k.startswith("_")}
    if running and not wal_before_kill:
        # killed mid-way, before the commit began: nothing of it may remain
        assert unchanged
    elif running:
        assert unchanged or fully_loaded  # killed during the commit itself
    else:
        assert proc.returncode == 0 and fully_loaded  # finished before we could kill it
