"""Baton's domain: conversations, ownership, delivery to Slack, and the store behind them."""
