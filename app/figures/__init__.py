"""Plotly figure builders for the dashboard and the HTML report.

Every builder is a pure function: plain data in (lists, dicts from the db/ queries or the engine's
JSON results), a `plotly.graph_objects.Figure` out. No Streamlit, no database, so they are tested
directly and reused by the report and the CLI.
"""

LAMBDA_ZERO_PLOT = 1e-5  # where λ = 0 sits on a log axis (the paper's grid starts at 1e-4)
