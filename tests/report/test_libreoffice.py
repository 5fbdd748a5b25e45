"""The report opens in another spreadsheet program: LibreOffice, headless, converts it to a
PDF. Skipped, with the reason printed, only where LibreOffice is not installed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from report.hand_data import GENERATED, HAND_FROM, HAND_TO
from revlens.catalog.spec import Catalog
from revlens.model.warehouse import Warehouse
from revlens.report import SHEETS, ReportFilters, write_report


def soffice() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        pytest.skip(
            "LibreOffice (soffice) not installed: the PDF conversion of the report is not "
            "tested here (apt-get install libreoffice-calc to run it)"
        )
    return found


@pytest.mark.slow
def test_the_report_converts_to_pdf(hand: Warehouse, catalog: Catalog, tmp_path: Path) -> None:
    binary = soffice()
    report = tmp_path / "report.xlsx"
    write_report(
        report,
        hand,
        ReportFilters(start=HAND_FROM, end=HAND_TO),
        catalog,
        generated_at=GENERATED,
    )
    out = tmp_path / "pdf"
    # a private profile: no clash with a running LibreOffice or another test run
    profile = (tmp_path / "profile").as_uri()
    done = subprocess.run(
        [
            binary,
            f"-env:UserInstallation={profile}",
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
            str(out),
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    pdf = out / "report.pdf"
    assert done.returncode == 0, done.stderr
    assert pdf.exists(), f"no PDF: {done.stdout} {done.stderr}"
    content = pdf.read_bytes()
    assert content.startswith(b"%PDF")
    # four sheets, each on at least one page
    pages = re.findall(rb"/Type\s*/Page(?!s)", content)
    assert len(pages) >= len(SHEETS)
