"""The "Your own table" section of the Models page: train and explain a model of an uploaded table.

Widgets only: ``analytics.models.table_model.train_on_table`` does the work, ``app.charts.models``
lays out its importance table; nothing is stored.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from analytics.common.formatting import escape_markdown
from analytics.models import table_model
from app import components
from app.charts import models as charts

# Training and SHAP run on the page while the person waits, so the page takes a bounded table.
MAX_UPLOAD_ROWS = 500_000
MSG_TOO_MANY_ROWS = "The page trains on at most that many: use `python -m analytics model --input` for more."
TOP_FEATURES = 15


def upload_section() -> None:
    """Train and explain a model of any two-class column of an uploaded customer table."""
    st.caption(
        "One row per customer, the outcome in one column; text columns are one-hot encoded,"
        " id-like and constant columns are left out with a notice, 25% is held out (stratified)"
        " to score and explain. Nothing is stored: the results are for download. The same as"
        " `python -m analytics model --input FILE --target COL --json`."
    )
    upload = st.file_uploader("Customer table (CSV or Parquet)", type=["csv", "parquet"], key="model_upload")
    if upload is None:
        return
    frame = components.read_upload(upload, max_rows=MAX_UPLOAD_ROWS, too_many=MSG_TOO_MANY_ROWS)
    if frame is None:
        return
    st.caption(f"{escape_markdown(upload.name)}: {frame.height:,} rows, {frame.width} columns.")
    target = st.selectbox("Outcome column", frame.columns, index=None, key="upload_target")
    if target is None:
        return
    if frame.schema[target].is_nested() or frame.schema[target] == pl.Object:
        st.error(table_model.MSG_TARGET_NOT_SCALAR.format(target=target, dtype=frame.schema[target]))
        return
    # The values as text, the way the CLI's --positive-label takes them (binary_target matches text).
    values = sorted({str(v) for v in frame.get_column(target).drop_nulls().unique().head(50).to_list()})
    positive = st.selectbox("Value that counts as the outcome (1)", values, key="upload_positive")
    if not st.button("Train and explain", key="upload_train"):
        return
    with st.status("Training on the uploaded table…", expanded=True) as status:
        try:
            status.write("Checking the columns and holding out 25%…")
            result = table_model.train_on_table(frame, target=target, positive_label=positive)
        except (ValueError, pl.exceptions.PolarsError) as exc:
            status.update(label="The table cannot be modelled", state="error")
            st.error(str(exc))
            return
        status.update(label=f"Trained: holdout AUC {result.auc:.3f}", state="complete", expanded=False)
    for notice in result.notices:
        st.caption(notice)
    cols = st.columns(4)
    cols[0].metric("Holdout AUC", f"{result.auc:.3f}")
    cols[1].metric("Rows", f"{result.rows:,}")
    cols[2].metric(f"Outcome '{result.positive_label}'", f"{result.positives:,}")
    cols[3].metric("Features used", f"{len(result.features)}")
    top = result.importance.head(TOP_FEATURES)
    st.dataframe(charts.table_importance_table(top), hide_index=True)
    stem = upload.name.rsplit(".", 1)[0]
    components.csv_download(
        result.predictions, file_name=f"{stem}_predictions.csv", key="up_pred", label="Download predictions"
    )
    components.csv_download(
        result.shap_values, file_name=f"{stem}_shap.csv", key="up_shap", label="Download SHAP values"
    )
