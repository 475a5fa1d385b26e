"""Dashboard page file: draws one view inside the error boundary (see app/dashboard/main.py)."""

from app.dashboard.common import page_body
from app.dashboard.views import robustness

page_body(robustness.render)
