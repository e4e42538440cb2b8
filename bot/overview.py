"""Who has what: the lists behind /sms mine, /sms queue and the App Home tab."""

from __future__ import annotations

from bot import response, views
from bot.away import Availability
from bot.clock import Clock
from bot.conversations import Conversation, Conversations
from bot.people import People
from bot.views import Listed
from config import BatonConfig


class Overview:
    """Build conversation lists with their response-time state."""

    def __init__(
        self,
        conversations: Conversations,
        people: People,
        config: BatonConfig,
        clock: Clock,
        availability: Availability,
    ) -> None:
        self.availability = availability
        self.conversations = conversations
        self.people = people
        self.config = config
        self.clock = clock

    def due_at(self, conv: Conversation) -> float | None:
        """Return when a reply is due for conv, or None."""
        targets = self.config.targets_for(conv.queue)
        return response.reply_due_at(conv, targets, self.conversations.calendar)

    def due(self, conv: Conversation) -> str | None:
        """Return conv's reply-due phrase as of now."""
        return views.due_phrase(
            conv, self.due_at(conv), self.clock.now(), self.config.business.timezone
        )

    def card_extras(self, conv: Conversation) -> views.CardExtras:
        """Return what conv's card shows beyond the conversation: due time, owner away."""
        note = None
        away = self.availability.away(conv.owner) if conv.owner else None
        if away is not None:
            note = (
                f"away, covered by <@{away.cover}>" if away.cover else "away, covered by the queue"
            )
        return views.CardExtras(due=self.due(conv), owner_note=note)

    def listed(self, conv: Conversation) -> Listed:
        """Return conv with its reply-due phrase."""
        return Listed(conv, self.due(conv))

    def _listed(self, convs: list[Conversation]) -> list[Listed]:
        # Most urgent first: overdue and soonest due, then nothing awaited.
        def urgency(conv: Conversation) -> tuple[float, int]:
            due_at = self.due_at(conv)
            return (due_at if due_at is not None else float("inf"), conv.number)

        return [Listed(c, self.due(c)) for c in sorted(convs, key=urgency)]

    def my_queues(self, user: str) -> list[str]:
        """Return the queues whose channel user is a member of."""
        return [q.name for q in self.config.queues if self.people.in_channel(user, q.channel)]

    def for_user(self, user: str) -> tuple[list[Listed], list[Listed], list[Listed]]:
        """Return (my conversations, unclaimed in my queues, recently handed to me)."""
        active = self.conversations.active()
        queues = set(self.my_queues(user))
        mine = [c for c in active if c.owner == user]
        unclaimed = [c for c in active if c.owner is None and c.queue in queues]
        handed = self.conversations.handed_to(user)
        return self._listed(mine), self._listed(unclaimed), [Listed(c, self.due(c)) for c in handed]

    def at_risk(self, queues: list[str]) -> list[Listed]:
        """Return the overdue and soon-due (past the reminder) conversations of queues, worst first."""
        now = self.clock.now()
        found = []
        for conv in self.conversations.active():
            if conv.queue not in queues:
                continue
            targets = self.config.targets_for(conv.queue)
            warn = next(
                (
                    lv.at
                    for lv in response.levels(conv, targets, self.conversations.calendar)
                    if lv.level == response.WARN
                ),
                None,
            )
            if warn is not None and warn <= now:
                found.append(conv)
        return self._listed(found)

    def queue(self, name: str) -> tuple[list[Listed], list[Listed]]:
        """Return (unclaimed, overdue) conversations of queue name."""
        now = self.clock.now()
        active = [c for c in self.conversations.active() if c.queue == name]
        unclaimed = [c for c in active if c.owner is None]
        overdue = [
            c
            for c in active
            if c.owner is not None and (d := self.due_at(c)) is not None and d <= now
        ]
        return self._listed(unclaimed), self._listed(overdue)
