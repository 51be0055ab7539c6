"""runbook.kube"""
