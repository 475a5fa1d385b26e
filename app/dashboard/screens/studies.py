"""Dashboard page file: draws one view inside the error boundary (see app/dashboard/main.py)."""

from app.dashboard.common import page_body
from app.dashboard.views import studies

page_body(studies.render)
