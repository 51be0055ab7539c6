"""runbook.fix"""
