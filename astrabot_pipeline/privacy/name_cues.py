"""Words around a word that say it is someone's name: "tell rose", "ask mrs smith",
"mark said". Read from the token text by the recognizers that need them (Presidio's
lemma-based context boost is off: privacy/anonymizer.py `NoContextBoost`)."""

from __future__ import annotations

# A name is often right after one of these: "tell rose", "with mark", "hey floor".
NAME_BEFORE = frozenset(
    {
        "tell", "told", "ask", "asked", "call", "called", "text", "texted", "hey", "hi",
        "hello", "yo", "dear", "thanks", "thank", "thx", "ty", "with", "and", "or", "meet",
        "met", "see", "saw", "love", "miss", "ping", "dm", "message", "invite", "invited",
        "from", "cc", "bye",
    }
)  # fmt: skip
# ... or right before one of these: "mark said", "smith says".
NAME_AFTER = frozenset(
    {"said", "says", "told", "asked", "texted", "called", "replied", "wrote", "thinks", "knows"}
)
POSSESSIVES = ("'s", "’s")
