"""Writing the logs from Python: rows shaped as the Go and Rust producers write them, encoded so that
an append never raises, hangs or loses a row. Imports only the shared modules, never the reading side.
"""
