"""The rehearsal tier: `make e2e` (see conftest.py and rehearsal/)."""
