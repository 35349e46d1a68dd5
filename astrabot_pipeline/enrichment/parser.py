"""Reading a Nitter status page (`/i/status/<id>`) with a real HTML parser (selectolax).

Nitter renders a status page as a conversation (zedeus/nitter src/views/status.nim):

    .conversation > .main-thread > .before-tweet   earlier tweets of the thread
                                 > .main-tweet     the linked tweet (with its .quote)
                                 > .after-tweet    the author's continuation
                  > .replies                       other people's replies

Only `.main-tweet` is read, so an earlier tweet or a reply is never taken for the linked
one. Pages that are not a tweet are classified (error panel, anti-bot challenge) so the
client can react; anything else fails soft as UNKNOWN_LAYOUT, never with an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from selectolax.lexbor import LexborHTMLParser, LexborNode

from astrabot_pipeline.enrichment.tweets import tweet_date_from_id

# Real Nitter pages nest about 30 elements deep. Lexbor's tree building is quadratic in the
# depth of nested <div>s (200,000 of them, 1 MB, took 73 s), so deeper pages are refused
# before parsing.
MAX_NESTING_DEPTH = 1024
# Nitter's date title: tweet.time.format("MMM d', 'YYYY' · 'h:mm tt' UTC'") (formatters.nim).
_DATE_FORMAT = "%b %d, %Y \u00b7 %I:%M %p UTC"


class PageKind(StrEnum):
    TWEET = "tweet"  # the main tweet was found: ParsedPage.tweet holds it
    NOT_FOUND = "not_found"  # the tweet is gone or hidden for good (reason says how)
    CHALLENGE = "challenge"  # an anti-bot page served in place of Nitter (reason: which)
    ERROR_PANEL = "error_panel"  # a Nitter error that may pass (rate limited by X, ...)
    UNKNOWN_LAYOUT = "unknown_layout"  # none of these: a layout this parser does not know


class PageReason(StrEnum):
    """Why a page is not a tweet. NOT_FOUND reasons are final; the others transient."""

    # PageKind.NOT_FOUND
    NOT_FOUND = "not_found"  # "Tweet not found"
    DELETED = "deleted"  # deleted by its author, or its account no longer exists
    SUSPENDED = "suspended"  # its account is suspended
    PROTECTED = "protected"  # its account limits who can view its posts
    WITHHELD = "withheld"  # withheld in the instance's country
    UNAVAILABLE = "unavailable"  # X's generic "This Post is unavailable"
    INVALID_ID = "invalid_id"  # Nitter refused the id itself
    # PageKind.ERROR_PANEL
    RATE_LIMITED = "rate_limited"  # the instance is rate limited by X or has no sessions
    INSTANCE_ERROR = "instance_error"  # any other Nitter error panel
    # PageKind.CHALLENGE
    ANUBIS = "anubis"
    CLOUDFLARE = "cloudflare"
    JAVASCRIPT = "javascript"  # another page that needs JavaScript (DDoS-Guard, custom)
    # PageKind.UNKNOWN_LAYOUT
    TOO_DEEP = "too_deep"  # nesting beyond MAX_NESTING_DEPTH: refused unparsed
    NO_TWEET_CONTENT = "no_tweet_content"  # a main tweet without the expected content
    UNRECOGNIZED = "unrecognized"


@dataclass(frozen=True)
class ParsedTweet:
    """The linked tweet: its text (<br> as newlines, links as their visible text), the
    author's username (without "@", "" if the page lacks it), when it was posted (UTC, from
    the page or else from the id; None if neither says) and the tweet it quotes, if any."""

    text: str
    author: str
    date: datetime | None
    quoted_text: str | None = None
    quoted_author: str | None = None


@dataclass(frozen=True)
class ParsedPage:
    kind: PageKind
    tweet: ParsedTweet | None = None
    reason: PageReason | None = None  # None only for TWEET


# Tombstones and error messages (status.nim, nitter.nim, X's tombstone texts), first match wins.
_GONE_MARKERS: tuple[tuple[str, PageReason], ...] = (
    ("invalid tweet id", PageReason.INVALID_ID),
    ("suspended", PageReason.SUSPENDED),
    ("deleted", PageReason.DELETED),
    ("no longer exists", PageReason.DELETED),
    ("limits who can view", PageReason.PROTECTED),
    ("protected", PageReason.PROTECTED),
    ("withheld", PageReason.WITHHELD),
    ("tweet not found", PageReason.NOT_FOUND),
    ("post not found", PageReason.NOT_FOUND),
    # X's tombstone, not an instance that is itself "temporarily unavailable".
    ("post is unavailable", PageReason.UNAVAILABLE),
    ("tweet is unavailable", PageReason.UNAVAILABLE),
)
_RATE_LIMIT_MARKERS = ("rate limited", "rate-limited", "no auth tokens", "too many requests")

_ANUBIS_MARKERS = ("anubis_challenge", "/.within.website/", "techarohq/anubis")
_CLOUDFLARE_MARKERS = ("_cf_chl_opt", "cf-challenge", "cf_chl_", "/cdn-cgi/challenge-platform")
_CHALLENGE_TITLES: tuple[tuple[str, PageReason], ...] = (
    ("making sure you're not a bot", PageReason.ANUBIS),
    ("just a moment", PageReason.CLOUDFLARE),
    ("attention required! | cloudflare", PageReason.CLOUDFLARE),
    ("checking your browser", PageReason.JAVASCRIPT),
    ("ddos-guard", PageReason.JAVASCRIPT),
    ("verify you are human", PageReason.JAVASCRIPT),
)
_JAVASCRIPT_MARKERS = ("enable javascript", "requires javascript", "javascript is required")

# One tag from its "<", roughly as the HTML tokenizer reads it: the name runs to space, "/" or
# ">" (a "<" inside belongs to it), quoted attribute values may hold ">" and "<".
# Possessive quantifiers: no backtracking, so one match costs the length of its tag.
_TAG = re.compile(r"<(/?)([a-zA-Z][^\t\n\f\r />]*+)((?:[^>\"']++|\"[^\"]*+\"|'[^']*+')*+)>")
_TAG_START = re.compile(r"</?[a-zA-Z]")
_RAW_TEXT = frozenset(["script", "style", "textarea", "title", "xmp", "iframe", "noembed"])
_VOID = frozenset(
    ["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param"]
    + ["source", "track", "wbr"]
)


def nesting_depth_exceeds(page: str, limit: int = MAX_NESTING_DEPTH) -> bool:
    """Whether elements in `page` nest deeper than `limit`, by one linear pass over its tags.

    Close tags pop back to their opener like an HTML parser; a close tag with no open
    element of that name is ignored (so `</x>` cannot hide depth). Comments and raw-text
    elements (script, style) are skipped. Each character is read once: no input makes it
    slower than linear.
    """
    if page.count("<") <= limit:
        return False
    stack: list[str] = []
    open_counts: dict[str, int] = {}
    lowered = page.lower()
    position = page.find("<")
    while position != -1:
        if page.startswith("<!--", position):
            end = page.find("-->", position + 4)
            position = -1 if end == -1 else page.find("<", end + 3)
            continue
        match = _TAG.match(page, position)
        if match is None:
            if _TAG_START.match(page, position):
                return False  # a tag left open runs to the end of the page: no more tags
            position = page.find("<", position + 1)
            continue
        closing, name, attributes = match.groups()
        name = name.lower()
        position = page.find("<", match.end())
        if closing:
            if open_counts.get(name):
                while stack:
                    top = stack.pop()
                    open_counts[top] -= 1
                    if top == name:
                        break
        elif name in _RAW_TEXT:
            position = lowered.find(f"</{name}", match.end())
        elif name not in _VOID and not attributes.endswith("/"):
            stack.append(name)
            open_counts[name] = open_counts.get(name, 0) + 1
            if len(stack) > limit:
                return True
    return False


def element_text(node: LexborNode) -> str:
    """Visible text of a tweet's content: <br> as a newline, links as their visible text,
    entities unescaped, Nitter's appended location (.tweet-geo) left out, outer space trimmed."""
    for geo in node.css(".tweet-geo"):
        geo.decompose()
    parts: list[str] = []
    for child in node.traverse(include_text=True):
        if child.tag == "br":
            parts.append("\n")
        elif child.tag == "-text":
            parts.append(child.text_content or "")
    return "".join(parts).strip()


def _username(node: LexborNode | None) -> str:
    if node is None:
        return ""
    return node.text(deep=True).strip().lstrip("@")


def _page_date(main: LexborNode, tweet_id: str) -> datetime | None:
    link = main.css_first(".tweet-header .tweet-date a")
    title = (link.attributes.get("title") or "") if link is not None else ""
    try:
        return datetime.strptime(title.strip(), _DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return tweet_date_from_id(tweet_id)


def _gone_reason(message: str) -> PageReason | None:
    lowered = message.lower()
    for marker, reason in _GONE_MARKERS:
        if marker in lowered:
            return reason
    return None


def _main_tweet(main: LexborNode, tweet_id: str) -> ParsedPage:
    tombstone = main.css_first(".unavailable-box")
    if tombstone is not None:
        reason = _gone_reason(tombstone.text(deep=True)) or PageReason.UNAVAILABLE
        return ParsedPage(PageKind.NOT_FOUND, reason=reason)
    content = main.css_first(".tweet-content")
    if content is None:
        return ParsedPage(PageKind.UNKNOWN_LAYOUT, reason=PageReason.NO_TWEET_CONTENT)
    quoted_text = quoted_author = None
    quote = main.css_first(".quote")
    if quote is not None and quote.css_first(".unavailable-quote") is None:
        quote_text = quote.css_first(".quote-text")
        quoted_text = element_text(quote_text) if quote_text is not None else ""
        quoted_author = _username(quote.css_first(".fullname-and-username .username")) or None
    tweet = ParsedTweet(
        text=element_text(content),
        author=_username(main.css_first(".tweet-header .username")),
        date=_page_date(main, tweet_id),
        quoted_text=quoted_text,
        quoted_author=quoted_author,
    )
    return ParsedPage(PageKind.TWEET, tweet=tweet)


def _error_panel(panel: LexborNode) -> ParsedPage:
    message = panel.text(deep=True)
    gone = _gone_reason(message)
    if gone is not None:
        return ParsedPage(PageKind.NOT_FOUND, reason=gone)
    lowered = message.lower()
    if any(marker in lowered for marker in _RATE_LIMIT_MARKERS):
        return ParsedPage(PageKind.ERROR_PANEL, reason=PageReason.RATE_LIMITED)
    return ParsedPage(PageKind.ERROR_PANEL, reason=PageReason.INSTANCE_ERROR)


def _challenge(tree: LexborHTMLParser, page: str) -> PageReason | None:
    lowered = page.lower()
    if any(marker in lowered for marker in _ANUBIS_MARKERS):
        return PageReason.ANUBIS
    if any(marker in lowered for marker in _CLOUDFLARE_MARKERS):
        return PageReason.CLOUDFLARE
    title_node = tree.css_first("title")
    title = title_node.text(deep=True).lower().replace("\u2019", "'") if title_node else ""
    for marker, reason in _CHALLENGE_TITLES:
        if marker in title:
            return reason
    for noscript in tree.css("noscript"):
        if any(marker in noscript.text(deep=True).lower() for marker in _JAVASCRIPT_MARKERS):
            return PageReason.JAVASCRIPT
    return None


def parse_status_page(html: str, tweet_id: str) -> ParsedPage:
    """Classify a Nitter status page and read its main tweet; never raises on bad input.

    `tweet_id` is the id that was asked for: the date falls back to it when the page has
    none. Order: main tweet, then Nitter's error panel, then anti-bot challenge markers (a
    tweet that merely mentions "Just a moment" stays a tweet).
    """
    if not isinstance(html, str) or not html.strip():
        return ParsedPage(PageKind.UNKNOWN_LAYOUT, reason=PageReason.UNRECOGNIZED)
    if "\x00" in html:
        html = html.replace("\x00", "\ufffd")
    if nesting_depth_exceeds(html):
        return ParsedPage(PageKind.UNKNOWN_LAYOUT, reason=PageReason.TOO_DEEP)
    tree = LexborHTMLParser(html)
    main = tree.css_first(".main-tweet")
    if main is not None:
        return _main_tweet(main, tweet_id)
    panel = tree.css_first(".error-panel")
    if panel is not None:
        return _error_panel(panel)
    challenge = _challenge(tree, html)
    if challenge is not None:
        return ParsedPage(PageKind.CHALLENGE, reason=challenge)
    return ParsedPage(PageKind.UNKNOWN_LAYOUT, reason=PageReason.UNRECOGNIZED)
