"""Regenerate the table of codes in docs/findings.md from ``runbook.mesh.findings.CODES``.

    .venv/bin/python docs/make_findings.py

``tests/mesh/test_diagnose.py`` fails while the page and the registry differ.
"""

from __future__ import annotations

from pathlib import Path

from runbook.mesh.findings import with_codes_table

PAGE = Path(__file__).with_name("findings.md")

if __name__ == "__main__":
    PAGE.write_text(with_codes_table(PAGE.read_text()))
    print(f"wrote {PAGE}")
