"""Operator tools: the Slack app manifest, the set-up doctor and the Twilio webhook fixer."""
