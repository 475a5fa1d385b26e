"""One module per dashboard page; each exposes `render()` (called inside the error boundary)."""
