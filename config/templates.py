"""Reply template placeholders: the pattern Baton fills and the names it has values for.

The config checks templates against these at start-up; bot.templates fills with them.
"""

from __future__ import annotations

import re

# A placeholder as it is filled: a lowercase name in braces, like {first_name}.
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")

# Every name bot.templates.values_for gives a value for. The value itself may be
# missing when a text is filled (an unknown customer has no first_name).
TEMPLATE_FIELDS = ("first_name", "agent_name", "team", "business", "timeframe", "opens_at")

# The names the rating question and its thanks may use: they are sent once a
# conversation is resolved, when no reply is due and no team or hours apply.
CSAT_FIELDS = ("business", "first_name", "agent_name")

# Anything in braces: what a person meant as a placeholder, mistyped or not
# ({First_Name}, {first name}, {}), so the check at start-up catches those too.
BRACED = re.compile(r"\{([^{}]*)\}")
