"""The sandbox's cast: the sample teammates, the queue channels and a few customers' phones."""

from __future__ import annotations

from dataclasses import dataclass

from config import BatonConfig
from standins import FakeSlack
from standins.slack import BOT_USER_ID


@dataclass(frozen=True)
class Person:
    """A sample teammate the visitor can act as."""

    id: str
    handle: str
    real_name: str
    display_name: str
    color: str


TEAM = (
    Person("U0ALEX", "alex", "Alex Rivera", "Alex", "#2b7bb9"),
    Person("U0BLAIR", "blair", "Blair Chen", "Blair", "#b05d14"),
    Person("U0CASEY", "casey", "Casey Diaz", "Casey", "#6a3fa0"),
)

# Real-looking numbers (phonenumbers calls 555-01xx numbers in these areas valid),
# so teammates can also type them into /sms commands.
CUSTOMERS = ("+12127365000", "+14155550123", "+13125550147")


def furnish(slack: FakeSlack, config: BatonConfig) -> None:
    """Register the teammates, and a channel per queue with everyone in it."""
    for person in TEAM:
        slack.add_user(
            person.id, person.handle, real_name=person.real_name, display_name=person.display_name
        )
    members = [p.id for p in TEAM] + [BOT_USER_ID]
    for queue in config.queues:
        slack.add_channel(queue.channel, queue.name, members=members)
