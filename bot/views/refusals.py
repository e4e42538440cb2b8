"""Why Baton refused what a person asked: one sentence each, that they can act on."""

from __future__ import annotations

from collections.abc import Iterable

from bot.values import STATUS_LABELS, Conversation, Status
from sms.numbers import display


def no_conversation(number: int) -> str:
    """Say there is no conversation with that number."""
    return f"There is no conversation #{number}."


def no_conversation_named(ref: str) -> str:
    """Say there is no conversation with the #N or N a person typed."""
    return f"There is no conversation {ref if ref.startswith('#') else '#' + ref}."


def not_a_reference(text: str) -> str:
    """Say what a conversation reference looks like."""
    return f"{text!r} is not a conversation reference: use #12, 12 or the customer's number."


def no_conversation_with(number: str) -> str:
    """Say there is no conversation with a customer number."""
    return f"There is no conversation with {display(number)}."


def several_conversations(number: str, convs: list[Conversation]) -> str:
    """Say a customer number has several conversations and how to name one."""
    refs = ", ".join(c.ref for c in convs)
    return f"{display(number)} has several conversations ({refs}); name one by #N."


def owned_by_someone_else(conv: Conversation) -> str:
    """Say who must hand the conversation off before this person texts."""
    return f"<@{conv.owner}> owns {conv.ref}; ask them to hand it off before you text."


def already_own(conv: Conversation) -> str:
    """Say the person owns it already."""
    return f"You already own {conv.ref}."


def already_claimed(conv: Conversation) -> str:
    """Say who claimed it first."""
    return f"<@{conv.owner}> already claimed {conv.ref}."


def nothing_to_release(conv: Conversation) -> str:
    """Say an unclaimed conversation cannot be released."""
    return f"{conv.ref} is not claimed, so there is nothing to release."


def owner_or_admin(conv: Conversation, action: str) -> str:
    """Say only the owner or an admin may do this."""
    return f"Only <@{conv.owner}> (the owner) or an admin can {action} {conv.ref}."


def already_status(conv: Conversation, status: Status) -> str:
    """Say the conversation has that status already."""
    return f"{conv.ref} is already {STATUS_LABELS[status]}."


def already_owns(conv: Conversation, user: str) -> str:
    """Say that person owns it already."""
    return f"<@{user}> already owns {conv.ref}."


HANDOFF_NEEDS_NOTE = "A handoff needs a note for the new owner."


def not_the_shifts(conv: Conversation) -> str:
    """Say the conversation is not owned by a shift."""
    return f"{conv.ref} is not the shift's to hand over."


def already_erased(conv: Conversation) -> str:
    """Say the customer's data is gone already."""
    return f"{conv.ref} was already erased."


def owns_already(conv: Conversation, user: str) -> str:
    """Say the owner needs no looping in."""
    return f"<@{user}> owns {conv.ref} already."


def already_looped_in(conv: Conversation, user: str) -> str:
    """Say that person is looped in already."""
    return f"<@{user}> is already looped in on {conv.ref}."


def no_queue(name: str, names: Iterable[str]) -> str:
    """Say there is no such queue, and which there are."""
    return f"There is no queue {name!r}. Queues: {', '.join(names)}."


def already_in_queue(conv: Conversation, queue: str) -> str:
    """Say the conversation is in that queue already."""
    return f"{conv.ref} is already in the {queue} queue."


def same_tags(conv: Conversation) -> str:
    """Say the tags would not change."""
    return f"{conv.ref} already has those tags."


HELD_GONE = "That message was already sent or is too old to send from here."
NOT_YOUR_MESSAGE = "Only the person who wrote that message can send it."
ALREADY_SENT = "That message was already sent."


def not_retried(outcome: str) -> str:
    """Say why a refused text was not tried again."""
    reasons = {
        "erased": "the customer's data was erased",
        "not_owner": "only the owner can text the customer now",
        "opted_out": "the customer opted out",
        "too_long": "the text is too long",
    }
    return f"Not retried: {reasons.get(outcome, outcome)}."
