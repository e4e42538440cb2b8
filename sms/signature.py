"""Check that a webhook really came from Twilio (X-Twilio-Signature)."""

from __future__ import annotations

from collections.abc import Mapping

from twilio.request_validator import RequestValidator

from sms.overrides import RETRIES


class TwilioSignature:
    """Validate Twilio webhook signatures against the public URL Twilio called."""

    def __init__(self, auth_token: str, public_url: str | None) -> None:
        self.validator = RequestValidator(auth_token)
        self.public_url = public_url

    def url_for(self, request_url: str, path: str, query: str) -> str:
        """Return the URL Twilio signed: PUBLIC_URL plus path, or the URL as received."""
        if not self.public_url:
            return request_url
        return f"{self.public_url}{path}" + (f"?{query}" if query else "")

    def valid(self, url: str, params: Mapping[str, str], signature: str | None) -> bool:
        """Tell whether signature matches url, bare or with Baton's overrides, and the params.

        Twilio signs "the exact URL your application supplied", and the SMS URL
        Baton supplies ends in its connection overrides (sms.overrides.RETRIES).
        Twilio does not say whether the fragment is signed, and no request
        carries it, so both forms are accepted; the validator tries each with
        and without the default port.
        """
        if not signature:
            return False
        form = dict(params)
        return any(
            self.validator.validate(candidate, form, signature)
            for candidate in (url, RETRIES.on(url))
        )
