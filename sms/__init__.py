"""Everything Twilio: sending texts, webhook signatures, phone numbers, keywords, segments."""
