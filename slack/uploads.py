"""Files Baton gives in Slack: transcripts and CSVs in a person's DM with Baton, the digest's chart in its channel."""

from __future__ import annotations

from slack_sdk import WebClient


class Uploads:
    """Upload files to people's DMs with Baton, and to channels."""

    def __init__(self, slack: WebClient) -> None:
        self.slack = slack

    def to_person(self, user: str, content: str, filename: str, title: str) -> None:
        """Upload content as a file into user's DM with Baton."""
        dm = self.slack.conversations_open(users=user)["channel"]["id"]
        self.slack.files_upload_v2(channel=dm, content=content, filename=filename, title=title)

    def to_channel(self, channel: str, content: bytes, filename: str, title: str) -> None:
        """Upload content as a file shared in channel."""
        self.slack.files_upload_v2(channel=channel, content=content, filename=filename, title=title)

    def shared(self, channel: str, filename: str, since: float) -> bool:
        """Tell whether a file called filename was shared in channel since then (epoch seconds)."""
        response = self.slack.conversations_history(
            channel=channel, oldest=f"{since:.6f}", limit=200
        )
        return any(
            f.get("name") == filename
            for message in response.get("messages", [])
            for f in message.get("files") or []
        )
