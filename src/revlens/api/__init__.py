"""The revlens server: a JSON API over the same questions the CLI answers (service.py),
with tokens and sessions (credentials, security), and the dashboard as a view of it."""
