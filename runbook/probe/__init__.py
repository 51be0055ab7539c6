"""runbook.probe"""
