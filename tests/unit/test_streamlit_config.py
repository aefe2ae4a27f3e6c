"""The server settings in .streamlit/config.toml that bound what a user can send."""

from __future__ import annotations

import tomllib
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml"


def test_uploads_are_capped_at_50_megabytes():
    # Streamlit's default is 200 MB: the server refuses a larger file before any page reads it.
    with CONFIG.open("rb") as file:
        config = tomllib.load(file)
    assert config["server"]["maxUploadSize"] == 50
