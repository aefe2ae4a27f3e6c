"""Reading an uploaded table: CSV and Parquet from bytes or a path, and the refusals that name the file."""

from __future__ import annotations

import io

import polars as pl
import pytest

from analytics.common.uploads import read_table


def test_csv_and_parquet_from_bytes_and_paths_read_the_same_table(tmp_path):
    frame = pl.DataFrame({"client": [1, 2, 3], "segment": ["a", "b", None], "spend": [1.5, None, 3.0]})
    csv_path, parquet_path = tmp_path / "t.csv", tmp_path / "t.parquet"
    frame.write_csv(csv_path)
    frame.write_parquet(parquet_path)
    for source, name in (
        (csv_path, None),
        (parquet_path, None),
        (csv_path.read_bytes(), "upload.CSV"),
        (parquet_path.read_bytes(), "upload.parquet"),
    ):
        assert read_table(source, name=name).equals(frame)


def test_a_late_text_value_is_read_as_text_not_an_error():
    # Every row is used to infer types: a column numeric for 200 rows and text after stays text.
    lines = ["x"] + [str(i) for i in range(200)] + ["n/a"]
    table = read_table("\n".join(lines).encode(), name="late.csv")
    assert table.schema["x"] == pl.String and table.height == 201


def test_refusals_name_the_file(tmp_path):
    with pytest.raises(ValueError, match=r"Cannot read data.xlsx: use a .csv or .parquet file."):
        read_table(b"whatever", name="data.xlsx")
    with pytest.raises(ValueError, match=r"Cannot read .*missing.csv: no such file."):
        read_table(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match=r"Cannot read broken.parquet: "):
        read_table(b"not a parquet file", name="broken.parquet")
    buffer = io.BytesIO()
    pl.DataFrame({"a": [1]}).write_parquet(buffer)
    with pytest.raises(ValueError, match=r"Cannot read cut.parquet: "):
        read_table(buffer.getvalue()[:20], name="cut.parquet")
