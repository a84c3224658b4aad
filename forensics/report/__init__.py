"""The weekly report: per-model figures with honest intervals, real changes, the week's incidents.
Imports on call (the alarm's memory), the store, reading and shared modules.
"""
