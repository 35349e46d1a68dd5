"""The evaluation report: typed sections of numbers, checks and notes (`model.py`),
assembled from the quality and privacy results, rendered to report.html, report.md and
metrics.json, and the verdict kept beside the judged adapter."""
