"""Topic of a message or a window, from a fixed taxonomy and hand-written word lists.

The taxonomy (`TOPICS`, in tie-break order) and what each label means:

==================  ==============================================================
family              parents, siblings, children, relatives
health              illness, symptoms, doctors, medicine, sleep, injuries
money               prices, rent, bills, paying back, banks, budgets
travel              trips, flights, trains, hotels, luggage, holidays
work_school         jobs, offices, meetings, deadlines; classes, exams, studying
food_drink          meals, cooking, restaurants, coffee, drinks
tech                phones, computers, apps, updates, wifi, code
media_links         links (any http(s):// or www. token), videos, photos, music,
                    shows, films, posts, memes
hobbies_sport       sport, the gym, games, concerts, instruments, crafts, outdoors
plans_logistics     meeting up: days, times, places, lateness, rides, bookings
feelings            emotions and states of mind: stress, missing someone, joy
small_talk          greetings, laughter, thanks, acknowledgements, weather
other               no word of any list (and no link)
==================  ==============================================================

Method: each message is split on whitespace, lower-cased, stripped of punctuation and of
a possessive "'s"; laughter ("hahaha", "lmaooo", "lool") is folded to one form. Each
token that is in a topic's list, or is a plural of one ("s", "es", "y" -> "ies"), is one
hit for that topic; a link is one hit for media_links, an amount with a currency sign
("$20", "15€") one for money. Counting is vectorized (pyarrow
kernels over all tokens at once, a dictionary lookup, numpy bincount).

A window's (or a message's) topic is the topic with the most hits; ties go to the topic
listed first above: the specific subjects before plans_logistics, whose words (days,
times, "late", "drive") turn up in talk about anything. Small talk is what every conversation is made of, so `small_talk`
wins only when no other topic has a hit. `topic_score` is the winning topic's share of
the hits that count (the other topics' hits when one of them wins; 1.0 for small talk;
0.0 for `other`). Labels are always taxonomy names, never words from the messages.

Limits: English word lists only; a word has one topic even where it could have two
("game" is hobbies_sport, not media); no phrases, no context ("I'm sick of work" counts
health and work_school); a placeholder such as "<PERSON>" left by anonymization is no
hit.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from astrabot_pipeline.conversations.tone import as_text_array, split_whitespace

OTHER = "other"
SMALL_TALK = "small_talk"

# The word lists. Lower case, one topic per word (a unit test checks they are disjoint);
# plurals are added by rule, so list the singular.
TOPIC_WORDS: dict[str, tuple[str, ...]] = {
    "family": (
        "mom", "mum", "mama", "dad", "papa", "mother", "father", "parent", "sister", "sis",
        "brother", "bro", "sibling", "grandma", "grandpa", "granny", "grandmother",
        "grandfather", "grandparent", "aunt", "auntie", "uncle", "cousin", "son", "daughter",
        "kid", "child", "children", "baby", "family", "fam", "wife", "husband", "nephew",
        "niece", "in-law", "stepmom", "stepdad", "twin",
    ),
    "health": (
        "sick", "ill", "doctor", "doc", "dentist", "hospital", "clinic", "nurse", "pain",
        "hurt", "hurts", "headache", "migraine", "fever", "flu", "covid", "cough",
        "throat", "cold", "meds", "medicine", "pill", "prescription", "pharmacy", "therapy",
        "therapist", "injury", "injured", "sprained", "surgery", "allergy",
        "allergic", "vaccine", "symptom", "sleep", "slept", "insomnia", "nap", 
        "recover", "recovering", "checkup", "appointment",
    ),
    "money": (
        "money", "pay", "paid", "paying", "rent", "bill", "bank", "budget", "expensive",
        "cheap", "price", "cost", "dollar", "buck", "euro", "cash", "card", "venmo",
        "paypal", "salary", "loan", "debt", "tax", "savings", "invest", "stock",
        "refund", "owe", "split", "tip", "afford", "broke", "discount", "sale", "mortgage",
        "deposit", "fee",
    ),
    "travel": (
        "trip", "travel", "traveling", "travelling", "flight", "fly", "flying", "airport",
        "plane", "train", "hotel", "airbnb", "hostel", "vacation", "holiday", "passport",
        "luggage", "suitcase", "packing", "abroad", "visa", "itinerary", "landed",
        "boarding", "layover", "tourist", "cruise", "roadtrip", "jetlag", "beach", "border",
        "departure", "terminal",
    ),
    "work_school": (
        "work", "job", "boss", "office", "meeting", "deadline", "project", "manager",
        "client", "shift", "coworker", "colleague", "interview", "promotion", "presentation",
        "report", "standup", "all-hands", "email", "hr", "team", "career", "hired", "fired",
        "quit", "school", "class", "homework", "exam", "test", "teacher", "professor",
        "lecture", "assignment", "essay", "thesis", "semester", "grade", "study", "studying",
        "campus", "university", "uni", "college", "course", "internship", "workload",
    ),
    "food_drink": (
        "food", "eat", "eating", "ate", "dinner", "lunch", "breakfast", "brunch", "cook",
        "cooking", "cooked", "recipe", "bake", "baking", "pizza", "taco", "sushi", "ramen",
        "pho", "curry", "dumpling", "noodle", "pasta", "burger", "burrito", "sandwich",
        "salad", "soup", "bread", "cake", "cookie", "dessert", "snack", "chocolate",
        "coffee", "tea", "latte", "beer", "wine", "cocktail", "drink", "drinks", "restaurant",
        "cafe", "bakery", "brewery", "bar", "hungry", "starving", "delicious", "yummy",
        "tasty", "spicy", "oven", "kitchen", "grocery", "groceries", "menu", "takeout",
        "leftover", "garlic", "cheese", "chicken", "rice", "fries", "bagel", "falafel",
    ),
    "tech": (
        "phone", "laptop", "computer", "pc", "mac", "app", "update", "wifi", "internet",
        "password", "bug", "code", "coding", "software", "hardware", "charger", "battery",
        "screen", "iphone", "android", "printer", "router", "server", "download", "install",
        "keyboard", "linux", "windows", "website", "browser", "bluetooth", "headphones",
        "airpods", "tablet", "ipad", "backup", "cloud", "ai", "robot", "gadget", "crashed",
    ),
    "media_links": (
        "link", "video", "photo", "pic", "picture", "meme", "tweet", "post", "article",
        "podcast", "song", "album", "playlist", "spotify", "youtube", "netflix", "show",
        "episode", "season", "series", "movie", "film", "trailer", "watch", "watched",
        "watching", "stream", "streaming", "tiktok", "instagram", "insta", "reddit",
        "screenshot", "gif", "music", "documentary", "thread", "news",
    ),
    "hobbies_sport": (
        "game", "gym", "run", "running", "ran", "climbing", "climb", "bouldering", "hike",
        "hiking", "yoga", "soccer", "football", "basketball", "tennis", "volleyball",
        "bike", "biking", "cycling", "swim", "swimming", "match", "training", "workout",
        "concert", "gig", "festival", "band", "guitar", "piano", "drum", "painting",
        "drawing", "knitting", "garden", "gardening", "chess", "catan", "puzzle", "skate",
        "skating", "ski", "skiing", "surf", "surfing", "practice", "league", "marathon",
        "camping", "fishing", "photography", "pottery", "karaoke", "dance", "dancing",
        "book", "novel", "reading", "boardgame",
    ),
    "plans_logistics": (
        "plan", "meet", "meetup", "tonight", "tomorrow", "weekend", "monday", "tuesday",
        "wednesday", "thursday", "friday", "saturday", "sunday", "noon", "am", "pm",
        "o'clock", "min", "mins", "minute", "hour", "omw", "otw", "eta", "late", "early",
        "leave", "leaving", "arrive", "arriving", "pick", "pickup", "ride", "drive",
        "driving", "parking", "address", "outside", "downstairs", "invite", "invited",
        "rsvp", "reservation", "reserve", "table", "schedule", "reschedule", "cancel",
        "cancelled", "postpone", "free", "available", "asap", "later",
        "coming", "hang", "hangout", "booked",
    ),
    "feelings": (
        "feel", "feeling", "felt", "sad", "happy", "angry", "mad", "upset", "stressed",
        "stress", "stressful", "anxious", "anxiety", "lonely", "miss", "missed", "cry",
        "crying", "cried", "worried", "worry", "scared", "afraid", "excited", "proud",
        "grateful", "overwhelmed", "depressed", "mood", "vent", "hug", "heart", "frustrated",
        "annoyed", "nervous", "bored", "jealous", "emotional", "exhausted", "drained",
        "hopeless", "relieved", "love", "hate", "heartbroken", "panic", "tears", "wiped",
    ),
    SMALL_TALK: (
        "hi", "hey", "heyy", "hello", "heya", "yo", "sup", "gm", "gn", "morning", "night",
        "haha", "lol", "lmao", "rofl", "ok", "okay", "k", "kk", "thanks", "thank", "thx",
        "ty", "np", "yeah", "yep", "yup", "nope", "cool", "nice", "sure", "bye", "cya",
        "ttyl", "wyd", "hbu", "wbu", "same", "true", "omg", "weather", "rain", "raining",
        "sunny", "snow", "snowing", "hot", "freezing", "welcome", "congrats", "cheers",
    ),
}  # fmt: skip

TOPICS: tuple[str, ...] = tuple(TOPIC_WORDS)
TOPIC_LABELS: tuple[str, ...] = (*TOPICS, OTHER)
_MEDIA = TOPICS.index("media_links")
_SMALL_TALK = TOPICS.index(SMALL_TALK)
_MONEY = TOPICS.index("money")

# Laughter and its spellings fold to one token before the lookup.
LAUGHTER_PATTERN = (
    r"^(?:a?(?:ha){2,}h?|(?:he){2,}h?|l+o+l+|lmf?a+o+|ro+fl+|(?:ja){2,}|(?:je){2,}|xd+)$"
)
LINK_PATTERN = r"^[<(\[\"']*(?:https?://|www\.)\S"
# An amount with a currency sign ("$20", "15€", "£3.50") is a money hit.
AMOUNT_PATTERN = r"^[(\"']*[$€£]\d|\d[$€£][)!?.,\"']*$"


def topic_forms() -> dict[str, int]:
    """Every form that counts as a hit -> topic index: the listed words and their plurals.

    A listed word always keeps its own topic; a plural form never overrides a listed word.
    """
    forms: dict[str, int] = {}
    for topic, words in enumerate(TOPIC_WORDS.values()):
        for word in words:
            forms[word] = topic
    for topic, words in enumerate(TOPIC_WORDS.values()):
        for word in words:
            for plural in _plurals(word):
                forms.setdefault(plural, topic)
    return forms


def _plurals(word: str) -> list[str]:
    if not word.isalpha():
        return []
    plurals = [word + "s", word + "es"]
    if word.endswith("y") and len(word) > 2 and word[-2] not in "aeiou":
        plurals.append(word[:-1] + "ies")
    return plurals


class TopicClassifier:
    """Counts topic hits per message and picks the topic of messages or windows."""

    def __init__(self) -> None:
        forms = topic_forms()
        self._forms = pa.array(list(forms), type=pa.string())
        self._topic_of_form = np.array([*forms.values(), -1], dtype="int64")

    def hits(self, texts: Iterable[str | None]) -> np.ndarray:
        """Hits per message and topic: an int32 array of shape (messages, len(TOPICS))."""
        text = as_text_array(texts)
        n = len(text)
        lists = split_whitespace(text)
        length = pc.list_value_length(lists).fill_null(0)
        length = length.to_numpy(zero_copy_only=False).astype("int64")
        message = np.repeat(np.arange(n), length)
        flat = pc.list_flatten(lists)
        links = pc.match_substring_regex(flat, LINK_PATTERN, ignore_case=True)
        amounts = pc.match_substring_regex(flat, AMOUNT_PATTERN)
        words = pc.utf8_lower(pc.replace_substring(flat, "\u2019", "'"))
        words = pc.utf8_trim(words, characters=string.punctuation + "\u201c\u201d\u2018")
        words = pc.replace_substring_regex(words, r"'s$", "")
        words = pc.replace_substring_regex(words, LAUGHTER_PATTERN, "haha")
        index = pc.index_in(words, value_set=self._forms).fill_null(len(self._topic_of_form) - 1)
        topic = self._topic_of_form[index.to_numpy(zero_copy_only=False)]
        topic = np.where(amounts.to_numpy(zero_copy_only=False), _MONEY, topic)
        topic = np.where(links.to_numpy(zero_copy_only=False), _MEDIA, topic)
        found = topic >= 0
        cells = message[found] * len(TOPICS) + topic[found]
        counts = np.bincount(cells, minlength=n * len(TOPICS))
        return counts.reshape(n, len(TOPICS)).astype("int32")

    def classify(self, texts: Iterable[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """(topic label, topic score) per message."""
        return topic_of_hits(self.hits(texts))


def topic_of_hits(hits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(label, score) per row of a hits matrix (messages or windows); see the module doc."""
    hits = np.asarray(hits)
    specific = hits.copy()
    specific[:, _SMALL_TALK] = 0
    best = specific.argmax(axis=1)  # the first maximum: taxonomy order breaks ties
    total = specific.sum(axis=1)
    top = specific[np.arange(len(hits)), best]
    labels = np.array(TOPICS, dtype=object)[best]
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(total > 0, top / np.maximum(total, 1), 0.0)
    small_talk = (total == 0) & (hits[:, _SMALL_TALK] > 0)
    labels = np.where(small_talk, SMALL_TALK, labels)
    score = np.where(small_talk, 1.0, score)
    none = (total == 0) & ~small_talk
    labels = np.where(none, OTHER, labels).astype(object)
    score = np.where(none, 0.0, score).astype("float64")
    return labels, score


@lru_cache(maxsize=1)
def default_classifier() -> TopicClassifier:
    return TopicClassifier()
