"""The office's public figures: e-services offered, submissions, residents and deadlines kept (docs/statistics.md)."""
