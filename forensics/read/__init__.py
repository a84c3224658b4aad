"""Reading the logs: where they are (sources), their columns (declared once), why a line is unreadable,
and the files as DuckDB views. Imports only the shared modules.
"""
