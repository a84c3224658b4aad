"""`forensics doctor`: the health of the logs themselves (every invariant of the format, checked line
by line) and of a store's ingest. Imports the store, the reading layer and shared modules.
"""
