"""What every test shares."""

from __future__ import annotations

import os

# Servers and ``negotiator audit verify`` started by the tests, in-process or not, share one audit
# key and write no key file into the working directory (``tests/api/test_audit.py`` tests the file).
TEST_AUDIT_KEY = "test-audit-key"
os.environ["NEGOTIATOR_AUDIT_KEY"] = TEST_AUDIT_KEY
