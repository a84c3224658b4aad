"""On call: the alarm (evaluate every alarm query), its memory (states, acknowledgements, events), its
cron mail, its self-test and the incident page. Imports Spark, the store, reading and shared modules.
"""
