from runbook.cli import console

console()
