"""A shift of several people: a new conversation goes to whoever on it owns the fewest open ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import AUTH_TOKEN
from tests.dialog import Customer

CONFIG = """
business:
  name: Acme Dental
  timezone: America/New_York
  hours: {mon-fri: "09:00-18:00"}
queues:
  - name: sales
    channel: C0123SALES
    keywords: [quote]
    shifts:
      - {days: mon-fri, hours: "09:00-18:00", users: [U0ALEX, U0BLAIR]}
  - {name: general, channel: C0123GENERAL, default: true}
"""


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "baton.yml"
    path.write_text(CONFIG)
    return path


def test_a_new_conversation_goes_to_the_least_loaded_on_shift_and_closed_ones_do_not_count(
    client, baton
) -> None:
    def texts(n: int) -> str | None:
        customer = Customer(client, f"+1555010000{n}", auth_token=AUTH_TOKEN)
        assert customer.texts("A quote for whitening, please").status_code == 200
        conv = baton.conversations.get(n)
        assert (conv.queue, conv.assigned_by) == ("sales", "shift")
        return conv.owner

    first, second = texts(1), texts(2)
    assert {first, second} == {"U0ALEX", "U0BLAIR"}  # one each

    assert baton.conversations.set_status(1, first, "closed").ok
    assert texts(3) == first  # none open against the other's one
    assert baton.conversations.set_status(2, second, "closed").ok
    assert texts(4) == second
