"""No Python callbacks inside polars expressions in server code, and the movers table under load.

Issue 12: a ``map_elements`` in the executive summary's movers table and another session's
``st.dataframe`` (``to_pandas``) deadlocked the whole server. The check in
``tools/polars_callbacks.py`` (also run by ``make lint``) keeps callbacks out; the stress test
runs the page's table building and the pandas conversion in several threads at once, in a
subprocess under a watchdog, and fails on any stall.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import polars as pl
import pytest

from analytics.kpis import definitions as kpis
from app.charts.executive_summary import movers_table
from tests.conftest import REPO_ROOT
from tools import polars_callbacks

STRESS_SECONDS = 4.0
STRESS_THREADS = 4
WATCHDOG_SECONDS = 90.0
"""Generous: the worker imports the library and computes the summary before its 4 s of load."""


def test_server_code_has_no_polars_callbacks():
    problems = polars_callbacks.check([REPO_ROOT / d for d in polars_callbacks.SERVER_CODE])
    assert problems == []


def test_the_check_finds_each_kind_of_callback():
    source = (
        "import polars as pl\n"
        "a = pl.col('x').map_elements(lambda v: v, return_dtype=pl.Int64)\n"
        "b = frame.group_by('g').map_groups(lambda g: g)\n"
        "c = pl.col('x').map_batches(lambda s: s)\n"
        "d = pl.fold(acc=pl.lit(0), function=lambda a, b: a + b, exprs=[pl.col('x')])\n"
        "e = frame.map_rows(lambda r: r)\n"
        "f = functools.reduce(lambda a, b: a + b, [1, 2])\n"  # not polars: allowed
        "g = pl.col('x').replace_strict({1: 'a'}, default='b')\n"
    )
    found = polars_callbacks.find_callbacks(source)
    assert [(line, name) for line, _, name in found] == [
        (2, "map_elements"),
        (3, "map_groups"),
        (4, "map_batches"),
        (5, "fold"),
        (6, "map_rows"),
    ]


def test_the_command_exits_1_and_names_the_file_and_line(tmp_path):
    bad = tmp_path / "page.py"
    bad.write_text("import polars as pl\n\nx = pl.col('a').map_elements(str)\n")
    result = subprocess.run(
        [sys.executable, "-m", "tools.polars_callbacks", str(bad)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"{bad}:3:5: map_elements" in result.stdout


def test_movers_table_formats_each_row_in_its_kpis_unit():
    movers = pl.DataFrame(
        {
            "kpi": ["retention_rate", "nps", "clv"],
            "dimension": ["region", "age_band", "product"],
            "value": ["North", "25-34", "credit_card"],
            "previous": [0.9512, 31.04, None],
            "current": [0.9387, 12.5, 1234.4],
            "change": [-0.0125, -18.54, None],
            "significant": [True, False, None],
        }
    )
    shown = movers_table(movers)
    assert shown.columns == ["KPI", "By", "Group", "Previous", "Current", "Change", "Significant"]
    assert shown.row(0) == (kpis.KPI_LABELS["retention_rate"], "Region", "North", "95.1%", "93.9%",
                            "-1.2 pp", "yes")  # fmt: skip
    assert shown.row(1)[1:] == ("Age band", "25-34", "31.0", "12.5", "-18.5 pts", "no")
    assert shown.row(2)[1:] == ("Product held", "Credit card", "n/a", "€1,234", None, "n/a")


def test_movers_table_and_to_pandas_in_threads_never_stall(sample_bank_path):
    """Four threads build the movers table and convert frames to pandas for 4 s; no stall."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.stress_movers", str(sample_bank_path), str(STRESS_SECONDS),
         str(STRESS_THREADS)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        out, err = process.communicate(timeout=WATCHDOG_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(
            f"the movers table and to_pandas stalled: no answer after {WATCHDOG_SECONDS:.0f} s "
            f"(a polars callback deadlock freezes the interpreter)"
        )
    assert process.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["errors"] == []
    assert result["rows"] > 0
    # Every thread kept working: a stalled thread would have stopped counting.
    assert len(result["iterations"]) == STRESS_THREADS
    assert min(result["iterations"]) > 10, result
    assert time.monotonic() - started < WATCHDOG_SECONDS
