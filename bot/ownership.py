"""Ownership and status transitions: plain functions of a conversation and the time.

Each returns the ``Change`` it makes (new state, events, Slack work) or raises
``Refused`` with a sentence for the person; none touches Redis, so each is
tested without it. ``bot.conversations`` commits them. The rules of who may
do what live here too, once.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace

from bot import response
from bot.calendar import BusinessCalendar
from bot.change import Change, Refused
from bot.values import (
    AUTOMATIC,
    FORGOTTEN,
    REFRESH,
    Conversation,
    Event,
    SlackJob,
    Status,
    direct,
    notice,
    without,
)
from bot.views import notices, refusals
from config import BatonConfig

# The rules


def may_manage(conv: Conversation, user: str, admins: Collection[str], action: str) -> str | None:
    """Return why user may not `action` someone else's conversation, or None when they may.

    The owner and admins may; anyone may act on an unclaimed conversation.
    """
    if conv.owner and conv.owner != user and user not in admins:
        return refusals.owner_or_admin(conv, action)
    return None


def may_text(conv: Conversation, user: str, reply_policy: str) -> bool:
    """Tell whether user's words go to the customer under the reply policy."""
    return reply_policy == "anyone" or conv.owner == user


def _require_manage(conv: Conversation, user: str, admins: Collection[str], action: str) -> None:
    refusal = may_manage(conv, user, admins, action)
    if refusal:
        raise Refused(refusal)


# The transitions


def owned_by(
    conv: Conversation, owner: str, how: str, user: str, now: float, calendar: BusinessCalendar
) -> tuple[Conversation, list[Event]]:
    """Return conv owned by owner and open (no longer new), and the reopening event if any."""
    events = []
    if conv.status != "open":
        events.append(Event("status", user, now, before=conv.status, after="open"))
    owned = replace(
        response.with_status(conv, "open", now, calendar),
        owner=owner,
        tags=without(conv.tags, "new"),
        assigned_by=how,
    )
    return owned, events


def claim(conv: Conversation, user: str, now: float) -> Change:
    """Make user the owner of an unclaimed conversation."""
    if conv.owner == user:
        raise Refused(refusals.already_own(conv))
    if conv.owner:
        raise Refused(refusals.already_claimed(conv))
    return Change(
        replace(conv, owner=user, tags=without(conv.tags, "new"), assigned_by="claim"),
        events=[Event("claimed", user, now, after=user)],
        jobs=[notice(notices.claimed(conv, user)), REFRESH],
    )


def release(conv: Conversation, user: str, now: float, admins: Collection[str]) -> Change:
    """Give the conversation back to its queue (its owner, or an admin, may)."""
    if not conv.owner:
        raise Refused(refusals.nothing_to_release(conv))
    _require_manage(conv, user, admins, "release")
    return Change(
        replace(conv, owner=None, assigned_by="queue"),
        events=[Event("released", user, now, before=conv.owner)],
        jobs=[notice(notices.released(conv, user)), REFRESH],
    )


def set_status(
    conv: Conversation, user: str, status: Status, now: float, calendar: BusinessCalendar
) -> Change:
    """Set the status to open, pending or closed, recording who did it."""
    if conv.status == status:
        raise Refused(refusals.already_status(conv, status))
    return Change(
        response.with_status(conv, status, now, calendar),
        events=[Event("status", user, now, before=conv.status, after=status)],
        jobs=[notice(notices.status_set(conv, user, status)), REFRESH],
    )


def hand_off(
    conv: Conversation,
    user: str,
    to: str,
    note: str,
    now: float,
    *,
    admins: Collection[str],
    calendar: BusinessCalendar,
) -> Change:
    """Make `to` the owner in one step, with a note for them; a closed conversation reopens."""
    _require_manage(conv, user, admins, "hand off")
    if conv.owner == to:
        raise Refused(refusals.already_owns(conv, to))
    if not note.strip():
        raise Refused(refusals.HANDOFF_NEEDS_NOTE)
    handed = Event("handed_off", user, now, before=conv.owner or "", after=to, note=note)
    owned, reopened = owned_by(conv, to, "handoff", user, now, calendar)
    return Change(
        owned,
        events=[handed, *reopened],
        jobs=[
            notice(notices.handed_off(conv, user, to, note)),
            REFRESH,
            direct(to, notices.handed_you(conv, user, note)),
        ],
    )


def hand_over(conv: Conversation, to: str | None, note: str, now: float) -> Change:
    """Move a shift-owned conversation to the incoming shift (or its queue), as Baton."""
    if conv.assigned_by != "shift" or conv.owner == to:
        raise Refused(refusals.not_the_shifts(conv))
    jobs = [notice(notices.shift_moved(conv, to)), REFRESH]
    if to:
        jobs.append(direct(to, notices.shift_yours(conv)))
    return Change(
        replace(conv, owner=to, assigned_by="shift" if to else "queue"),
        events=[
            Event("handed_off", "baton", now, before=conv.owner or "", after=to or "", note=note)
        ],
        jobs=jobs,
    )


def loop_in(conv: Conversation, user: str, collaborator: str, now: float) -> Change:
    """Add a collaborator who is told and can follow the thread; ownership is unchanged."""
    if collaborator == conv.owner:
        raise Refused(refusals.owns_already(conv, collaborator))
    if collaborator in conv.collaborators:
        raise Refused(refusals.already_looped_in(conv, collaborator))
    return Change(
        replace(conv, collaborators=(*conv.collaborators, collaborator)),
        events=[Event("looped_in", user, now, after=collaborator)],
        jobs=[
            notice(notices.looped_in(conv, user, collaborator)),
            REFRESH,
            direct(collaborator, notices.looped_you_in(conv, user)),
        ],
    )


def transfer(
    conv: Conversation, user: str, queue_name: str, summary: str, now: float, config: BatonConfig
) -> Change:
    """Move the conversation to another queue: a fresh card there, the old one marked moved."""
    _require_manage(conv, user, config.admins, "transfer")
    queue = config.queue(queue_name)
    if queue is None:
        raise Refused(refusals.no_queue(queue_name, [q.name for q in config.queues]))
    if queue.name == conv.queue:
        raise Refused(refusals.already_in_queue(conv, queue.name))
    jobs = [SlackJob("card")]
    if conv.card_ts:
        jobs.append(SlackJob("retire", {"channel": conv.channel, "ts": conv.card_ts}))
    jobs.append(notice(notices.moved_here(conv, user, summary)))
    return Change(
        replace(
            conv,
            queue=queue.name,
            channel=queue.channel,
            card_ts=None,
            route_reason=f"transferred from {conv.queue} by <@{user}>",
        ),
        events=[Event("transferred", user, now, before=conv.queue, after=queue.name)],
        jobs=jobs,
    )


def tag(conv: Conversation, user: str, add: list[str], remove: list[str], now: float) -> Change:
    """Add and remove tags; tags show on the card."""
    tags = tuple(t for t in conv.tags if t not in remove)
    tags += tuple(t for t in dict.fromkeys(add) if t not in tags)
    if tags == conv.tags:
        raise Refused(refusals.same_tags(conv))
    changes = " ".join([*(f"+{t}" for t in add), *(f"-{t}" for t in remove)])
    return Change(
        replace(conv, tags=tags),
        events=[Event("tagged", user, now, note=changes)],
        jobs=[REFRESH],
    )


def rename(conv: Conversation, name: str | None) -> Change:
    """Show the customer's name (from their contact) on the card."""
    if conv.customer_name == name:
        raise Refused("unchanged")
    return Change(replace(conv, customer_name=name), jobs=[REFRESH])


def forget(conv: Conversation, user: str, now: float, old_cards: Sequence[SlackJob] = ()) -> Change:
    """Erase the customer's texts and number from the conversation, keeping an audit event.

    old_cards: the jobs retiring cards a transfer left behind, not done yet; they
    stay queued (the erasure drops the rest), and retire those cards as erased.
    """
    if conv.customer_number == FORGOTTEN:
        raise Refused(refusals.already_erased(conv))
    return Change(
        replace(
            response.stop_clock(conv),
            customer_number=FORGOTTEN,
            customer_name=None,
            status="closed",
            in_sid="",  # with the record of sids: the sid names the text in Twilio's logs
        ),
        events=[Event("forgotten", user, now, note="customer data erased on request")],
        jobs=[*old_cards, SlackJob("erased", {"text": notices.erased(user)}), REFRESH],
        erase=True,
    )


def opted_out_by_carrier(conv: Conversation, reason: str, now: float) -> Change:
    """Mark the customer opted out because the carrier said so (Twilio error 21610)."""
    if conv.opted_out:
        raise Refused("already opted out")
    return Change(
        replace(conv, opted_out=True),
        events=[Event("opted_out", "carrier", now, note=reason)],
        jobs=[REFRESH],
    )


def texted(conv: Conversation, message: dict[str, str], written_at: float, slack_ts: str) -> Change:
    """Record a text sent to the customer; it answers the texts that came before it was written.

    A customer text that arrived after the person wrote theirs is still
    unanswered and keeps the clock running.
    """
    if message.get("author") == AUTOMATIC:
        # Baton's own text (the rating question, its thanks) is no human reply.
        return Change(conv, messages=[message], outbound=(message["sid"], slack_ts))
    if conv.last_inbound_at is None or conv.last_inbound_at <= written_at:
        conv = response.stop_clock(conv)  # a human reply answers the customer
    return Change(
        replace(conv, replied=True),
        messages=[message],
        jobs=[REFRESH],
        outbound=(message["sid"], slack_ts),
    )
