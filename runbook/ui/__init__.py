"""runbook.ui"""
