"""Pure logic: no server, no store server, no Textual app (see conftest.py)."""
