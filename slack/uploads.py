"""Files Baton gives a person in Slack: transcripts, in their DM with Baton."""

from __future__ import annotations

from slack_sdk import WebClient


class Uploads:
    """Upload files to people's DMs with Baton."""

    def __init__(self, slack: WebClient) -> None:
        self.slack = slack

    def to_person(self, user: str, content: str, filename: str, title: str) -> None:
        """Upload content as a file into user's DM with Baton."""
        dm = self.slack.conversations_open(users=user)["channel"]["id"]
        self.slack.files_upload_v2(channel=dm, content=content, filename=filename, title=title)
