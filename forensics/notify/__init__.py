"""Delivery: the alarm's news sent to webhooks, Alertmanager and commands, each receiver's ledger kept.
It imports from `oncall/` and below; `cli/` calls it."""
