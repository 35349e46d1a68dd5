"""The columns tweet enrichment adds to windowed messages that carry outside text.

The privacy stage anonymizes each of TWEET_TEXT_COLUMNS like message text, replaces
TWEET_AUTHOR_COLUMN as a whole with a stable surrogate, and scans all of them in its
blocking gate; the dataset shows TWEET_TEXT_COLUMN next to the message that shared it.
"""

TWEET_TEXT_COLUMN = "tweet_text"  # the linked tweet's text (several: one per line)
TWEET_QUOTED_TEXT_COLUMN = "tweet_quoted_text"  # the text of the tweet it quotes
TWEET_AUTHOR_COLUMN = "tweet_author"  # who wrote the linked tweet (name and @handle)
TWEET_TEXT_COLUMNS = (TWEET_TEXT_COLUMN, TWEET_QUOTED_TEXT_COLUMN)
