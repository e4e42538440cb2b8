"""Check that a webhook really came from Twilio (X-Twilio-Signature)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from urllib.parse import urlparse

from twilio.request_validator import RequestValidator, add_port, compare, remove_port

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

    def valid(
        self,
        url: str,
        params: Mapping[str, str],
        signature: str | None,
        *,
        overrides: bool = False,
    ) -> bool:
        """Tell whether signature matches url, bare or with Baton's overrides, and the params.

        Twilio signs "the exact URL your application supplied", and the SMS URL
        Baton supplies ends in its connection overrides (sms.overrides.RETRIES;
        overrides says the route's URL does). Twilio does not say whether the
        fragment is signed, and no request carries it, so both forms are
        accepted, each with and without the default port. The form Baton
        supplied is checked first and alone: a genuine request costs one HMAC,
        not one for each form.
        """
        if not signature:
            return False
        form = dict(params)
        bare, supplied = url, RETRIES.on(url)
        first, second = (supplied, bare) if overrides else (bare, supplied)
        return any(
            compare(self.validator.compute_signature(candidate, form), signature)
            for candidate in _forms(first, second)
        )


def _forms(*urls: str) -> Iterator[str]:
    """Yield each of urls as given, then each with its default port added or dropped."""
    yield from urls
    for url in urls:
        parsed = urlparse(url)
        for other in (add_port(parsed), remove_port(parsed)):
            if other != url:
                yield other
