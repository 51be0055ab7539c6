"""runbook.report: headless notebook runs and exported reports."""
