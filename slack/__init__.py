"""Everything that calls the Slack Web API: delivery's performer, the people cache, uploads."""
