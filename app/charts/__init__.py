"""The figures of each page, one module per page (app/charts/<page>.py)."""
