"""runbook.sandbox"""
