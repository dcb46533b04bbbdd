"""Against real parts: Dovecot, SMTP, PostgreSQL, Synapse, HTTP fakes, the CLI."""
