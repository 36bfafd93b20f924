"""A workbook at Excel's row limit syncs without running out of memory (slow: KAKOSHEET_SLOW=1)."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
import xlsxwriter

from kakosheet.schema import schemas

ROWS = 1_048_575  # every row Excel allows below the header


@pytest.mark.slow
def test_a_million_rows_sync(tmp_path: Path) -> None:
    path = tmp_path / "huge.xlsx"
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    ws = wb.add_worksheet("Cases")
    fields = [f for f in schemas()["cases"].fields if not f.engine]
    for c, f in enumerate(fields):
        ws.write_string(0, c, f.label_en)
    col = {f.key: c for c, f in enumerate(fields)}
    for r in range(1, ROWS + 1):
        ws.write_string(r, col["reported_at"], f"2026-{1 + r % 11:02d}-{1 + r % 27:02d} 10:00")
        ws.write_string(r, col["order_no"], f"KB{r:07d}")
        ws.write_string(r, col["supplier"], f"Supplier {r % 40}")
        ws.write_string(r, col["category"], ["damaged", "lost", "quality_defect"][r % 3])
    wb.close()
    r = subprocess.run([sys.executable, "-m", "kakosheet", "sync", str(path), "--now", "2026-11-22T10:00:00+00:00"], capture_output=True, text=True, timeout=3 * 3600)
    assert r.returncode == 0, r.stderr
    assert "new IDs: 1048575" in r.stdout
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    print(f"peak RSS {peak_gib:.1f} GiB")
