"""Reading an uploaded table: CSV and Parquet from bytes or a path, and the refusals that name the file."""

from __future__ import annotations

import io

import polars as pl
import pytest

from analytics.common.uploads import MSG_TOO_MANY_ROWS, TooManyRowsError, read_table


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


def _csv(rows: int) -> bytes:
    return pl.DataFrame({"client": range(rows), "spend": [1.5] * rows}).write_csv().encode()


def _parquet(rows: int) -> bytes:
    buffer = io.BytesIO()
    pl.DataFrame({"client": range(rows), "spend": [1.5] * rows}).write_parquet(buffer)
    return buffer.getvalue()


def test_a_csv_over_the_cap_is_refused_naming_the_file_and_the_cap(tmp_path):
    path = tmp_path / "long.csv"
    path.write_bytes(_csv(15))
    expected = MSG_TOO_MANY_ROWS.format(name="long.csv", rows="more than 10", limit=10)
    with pytest.raises(TooManyRowsError) as info:
        read_table(path.read_bytes(), name="long.csv", max_rows=10)
    assert str(info.value) == expected
    with pytest.raises(TooManyRowsError, match=r"more than 10 rows, and at most 10 are read here"):
        read_table(path, max_rows=10)


def test_a_csv_is_read_only_up_to_one_row_past_the_cap(monkeypatch):
    calls = []
    real = pl.read_csv

    def spy(source, **kwargs):
        calls.append(kwargs.get("n_rows"))
        return real(source, **kwargs)

    monkeypatch.setattr(pl, "read_csv", spy)
    with pytest.raises(TooManyRowsError):
        read_table(_csv(1_000), name="long.csv", max_rows=10)
    assert calls == [11]


def test_a_csv_whose_text_value_lies_past_the_cap_is_refused_as_too_long_not_as_unreadable():
    # Numbers up to the cap, then text: polars parses past the rows it returns and trips on the text
    # (a ComputeError for the types inferred from the rows read); the length is what refuses the file.
    lines = ["x"] + [str(i) for i in range(10)] + ["n/a"] * 10
    with pytest.raises(TooManyRowsError, match=r"more than 5 rows"):
        read_table("\n".join(lines).encode(), name="late.csv", max_rows=5)


def test_a_parquet_file_over_the_cap_is_refused_from_its_metadata_without_reading_rows(monkeypatch, tmp_path):
    def no_rows(*_args, **_kwargs):
        raise AssertionError("the rows were read")

    data = _parquet(15)
    (tmp_path / "long.parquet").write_bytes(data)
    monkeypatch.setattr(pl, "read_parquet", no_rows)
    # The exact count, which only the file's metadata can tell without reading the rows.
    expected = MSG_TOO_MANY_ROWS.format(name="long.parquet", rows="15", limit=10)
    with pytest.raises(TooManyRowsError) as info:
        read_table(data, name="long.parquet", max_rows=10)
    assert str(info.value) == expected
    with pytest.raises(TooManyRowsError, match=r"it has 15 rows, and at most 10"):
        read_table(tmp_path / "long.parquet", max_rows=10)


@pytest.mark.parametrize(("make", "name"), [(_csv, "exact.csv"), (_parquet, "exact.parquet")])
def test_a_file_of_exactly_the_cap_is_read_and_one_more_row_is_refused(make, name):
    table = read_table(make(10), name=name, max_rows=10)
    assert table.height == 10 and table.columns == ["client", "spend"]
    with pytest.raises(TooManyRowsError):
        read_table(make(11), name=name, max_rows=10)


def test_a_broken_file_within_the_cap_is_still_unreadable_not_too_long():
    with pytest.raises(ValueError, match=r"Cannot read broken.parquet: ") as info:
        read_table(b"not a parquet file", name="broken.parquet", max_rows=10)
    assert not isinstance(info.value, TooManyRowsError)
