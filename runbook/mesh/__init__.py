"""runbook.mesh"""
