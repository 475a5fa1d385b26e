"""Plotly figure builders for the dashboard and the CLI's --html/--png outputs (presentation only)."""
