"""CSV exports guarded against formula injection (analytics.common.exports)."""

from __future__ import annotations

import io

import polars as pl

from analytics.common.exports import formula_safe, write_safe_csv

PLANTED = pl.DataFrame(
    {
        "name": [
            '=HYPERLINK("http://evil.example","x")',
            "+1",
            "-2+3",
            "@SUM(A1)",
            "Ann Smith",
            "\t=1",
            "\r=1",
            None,
        ],
        "balance": [-1250.5, 10.0, -3.0, 0.0, 42.0, 1.0, 2.0, 3.0],
    }
)


def test_cells_a_spreadsheet_would_run_are_prefixed_with_a_quote():
    safe = formula_safe(PLANTED)
    assert safe.get_column("name").to_list() == [
        '\'=HYPERLINK("http://evil.example","x")',
        "'+1",
        "'-2+3",
        "'@SUM(A1)",
        "Ann Smith",
        "'\t=1",
        "'\r=1",
        None,
    ]


def test_numeric_columns_stay_numbers_negative_ones_included():
    safe = formula_safe(PLANTED)
    assert safe.schema["balance"] == pl.Float64
    assert safe.get_column("balance").to_list() == PLANTED.get_column("balance").to_list()
    assert safe.columns == PLANTED.columns


def test_categorical_text_is_guarded_and_a_frame_without_text_is_unchanged():
    frame = pl.DataFrame({"c": pl.Series(["-x", "y"], dtype=pl.Categorical)})
    assert formula_safe(frame).get_column("c").to_list() == ["'-x", "y"]
    numbers = pl.DataFrame({"a": [-1, 2]})
    assert formula_safe(numbers).equals(numbers)


def test_the_written_csv_reads_back_guarded(tmp_path):
    text = write_safe_csv(PLANTED)
    back = pl.read_csv(io.StringIO(text))
    assert back.get_column("name")[3] == "'@SUM(A1)"
    assert back.get_column("balance")[0] == -1250.5
    path = tmp_path / "out.csv"
    assert write_safe_csv(PLANTED, path) is None
    assert path.read_bytes().decode("utf-8") == text
