"""Ordinary chat keeps its voice: ellipses, slang, sentence openers, shouting, form labels
and dates are not identifiers; lower-case names with a chat cue still are."""

from __future__ import annotations

import pytest

from astrabot_pipeline.privacy.chat_words import load_frequent_chat_words
from astrabot_pipeline.privacy.recognizers import KNOWN_CONTACT_ENTITIES


def generic_findings(anonymizer, text: str) -> list[tuple[str, str]]:
    """What the generic recognizers (not the address book) replace in `text`."""
    found = anonymizer.find_entities([text])[0]
    return [
        (text[r.start : r.end], r.entity_type)
        for r in found
        if r.entity_type not in KNOWN_CONTACT_ENTITIES
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("buttons....lol", "buttons....lol"),
        ("try...so seriously https://x.com/a", "try...so seriously <URL>"),
        ("adults are cooler.....lol www.example.org", "adults are cooler.....lol <URL>"),
        ("me too...always, see example.com/path", "me too...always, see <URL>"),
        ("that....knockin bit.ly/abc", "that....knockin <URL>"),
        ("k.lol", "k.lol"),  # one dot, a chat word after it, no path: no host
    ],
)
def test_ellipses_are_text_and_real_urls_are_still_replaced(anonymizer, text, expected):
    assert anonymizer.anonymize_texts([text]).texts == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "dang it",
        "yup",
        "imma make fun of u",
        "see my nic",
        "wait til they get here",
        "your harley is loud",
        "mercedes benz",
        "Dang it i forgot again",
        "Yup see u there",
    ],
)
def test_slang_that_is_also_a_given_name_somewhere_stays(anonymizer, text):
    assert anonymizer.anonymize_texts([text]).texts == [text]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("tell joseph i said hi", "joseph"),
        ("hey peter!!", "peter"),
        ("thomas's place tonight?", "thomas"),
        ("Name: Jan", "Jan"),  # a name after its label, not a month
        ("Name: jan kowalski", "kowalski"),
    ],
)
def test_names_with_a_chat_cue_or_a_name_label_are_replaced(anonymizer, text, name):
    assert name not in anonymizer.anonymize_texts([text]).texts[0]


@pytest.mark.parametrize(
    "text",
    [
        "Max is what i paid",
        "Bill me later",
        "Jack is back lol",
        "Pat on the back",
        "Miles away from here",
        "Dad says hi",
        "Netflix tonight?",
        "Pixel or iphone idk",
        "the WIFI is down again",
        "IBAN: please send it",
        "IBAN and BIC are on the invoice",  # a label's word without its colon
        "send me the iban pls",
    ],
)
def test_sentence_openers_shouting_and_form_labels_are_not_names(anonymizer, text):
    assert generic_findings(anonymizer, text) == []


@pytest.mark.parametrize("text", ["see you on March 3, 2025", "deadline (2025-06-30) ok"])
def test_dates_stay_dates(anonymizer, text):
    assert anonymizer.anonymize_texts([text]).texts == [text]


def test_a_sentence_opener_is_a_name_only_with_a_chat_cue(anonymizer):
    assert generic_findings(anonymizer, "Max is what i paid") == []
    assert generic_findings(anonymizer, "Max said he'd come") == [("Max", "PERSON")]


def test_the_common_word_list_from_real_chat_holds_slang_and_not_rare_names():
    frequent = load_frequent_chat_words()
    assert {"yup", "dang", "imma", "til", "nic", "harley"} <= frequent
    assert not {"sunniva", "silvana", "monika"} & frequent


@pytest.mark.parametrize(
    "text",
    [
        "can someone claim DS-1349 before friday",
        "the file is not in UTF-8 or UTF-16",
        "consider a client side UI in Ember.js instead",
        "the release is out Fri at the latest",
        "a release end of Feb or start of Mar works",
    ],
)
def test_tickets_code_and_days_are_not_people(anonymizer, text):
    assert [kind for _, kind in generic_findings(anonymizer, text)] == []


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("I met J.K. Rowling once", "Rowling"),  # initials are no code
        ("Name: Mar Gomez", "Mar"),  # after a name label a short month is a name
    ],
)
def test_names_beside_those_rules_are_still_replaced(anonymizer, text, name):
    assert name not in anonymizer.anonymize_texts([text]).texts[0]


@pytest.mark.parametrize(
    "text",
    [
        "Thanks for moving DSpace Docker forward!",  # spaCy tagged each as a person
        "Nice DSpace emoji",
        "we should ask DSpace Steering about it",
        "the REST API is down",
        "Will the Java API change?",
        "are open JIRA tickets considered blockers?",
        "I am testing a PR related to OAI.",
        "DSpace 7 Sprint #2 is ongoing this week",  # was a street address
        "what's your NI number?",  # the kind of a number, not Northern Ireland
        "I have a UK number now",
    ],
)
def test_product_names_and_acronyms_are_not_people_or_addresses(anonymizer, text):
    """Real chat about software (issue 20): two capitals before the first lower-case
    letter ("DSpace", "EPerson"), a technical acronym ("API") or a shouted word no one is
    named ("JIRA") name a product."""
    assert generic_findings(anonymizer, text) == []


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("I saw McDonald at the game", "McDonald"),  # the inner capital follows a lower-case
        ("thanks to DeShawn Jones", "DeShawn Jones"),
        ("ask LaToya about it", "LaToya"),
        ("tell JOhn I said hi", "JOhn"),  # a given name typed with the shift key held
        ("tell JOHN I said hi", "JOHN"),  # shouted, but a given name
        ("ask SMITH about it", "SMITH"),  # shouted, but a cue names it
        ("Jack Miller said the DSpace API is fine", "Jack Miller"),
    ],
)
def test_names_with_inner_capitals_are_still_people(anonymizer, text, name):
    assert (name, "PERSON") in generic_findings(anonymizer, text)


@pytest.mark.parametrize(
    "text",
    [
        # Dictionary words no one is named, Capitalized mid-sentence (real #duraspace chat)
        "I'm against adding convenience methods to the Item object unless they need to",
        "0 no Oracle here either",
        "I'm thinking of completely replacing Browse and Search with Discovery",
        "Maybe wrap a little Java around the rendering process in place of the scripts?",
        # SHOUTED in a message written in lower case, after no preposition of place
        "is recordGoogleAnalytics() redundant between JSPUI and XMLUI?",
        "we need more control over XOAI, as it has bugs we cannot fix",
        "the storage-db implementation initially is testing against DERBY and HSQLDB",
        # Several words, all ordinary, none a given or family name
        "Recent Submissions have been in DSpace since the ice age",
        "I'm all for adding more diagrams around our Git Workflow.",
        # A file name or a field whose last part is a newer top-level domain
        "the build will fail by default as there is no build.properties file",
        "a value of dc.date.issued that looks pretty crazy",
        # An acronym joined by an ampersand, and a day's abbreviation
        "any other discussion topics / general Q&A for today?",
        "Most folks will return to work on Mon, Nov 19",
    ],
)
def test_words_products_and_acronyms_mid_sentence_are_not_identifiers(anonymizer, text):
    """Issue 20's real-chat precision set: each of these was replaced before."""
    assert anonymizer.anonymize_texts([text]).texts == [text]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("I talked to Baker about the release", "Baker"),  # a family name that is a word
        ("we saw Will at the gym", "Will"),  # a given name that is a word
        ("I'm in HELSINKI this week", "HELSINKI"),  # a town in capitals after "in"
        ("grew up in KAJAANI", "KAJAANI"),
        ("i grew up in NI", "NI"),  # a number's kind only before "number"
        ("flew to ΛΕΥΚΩΣΙΑ on Monday morning", "ΛΕΥΚΩΣΙΑ"),  # capitals, but not Latin
        ("ask SMITH about the patch", "SMITH"),  # shouted family name with a cue
        ("did you hear from Jack Miller yet", "Jack Miller"),
        ("DS-285: +5, for 1.6, assign to larry stone.", "larry stone"),  # real chat, lower case
        ("the site is example.com", "example.com"),  # a classic top-level domain
        ("see example.info", "example.info"),
        ("try mysite.properties/login", "mysite.properties/login"),  # a path says web
    ],
)
def test_names_places_and_hosts_beside_those_rules_are_still_replaced(anonymizer, text, name):
    assert name not in anonymizer.anonymize_texts([text]).texts[0]


@pytest.mark.parametrize(
    "text",
    [
        "Ya lor... u noe where to meet?",  # Ya, Noe: given names somewhere, texting here
        "Yar i tot so too. Hee...",
        "Can meet tomo? Doing project w frens now",
        "Nvm it's ok, juz go first",
        "Izzit? Aiyah i forgot 2 check my phone",
        "Okie see u den",
        "But can send my care as msg to U. Gud evng",  # texting's "good evening"
        "The Xmas miracle is love.. Hav a blessed month ahead",
    ],
)
def test_phone_texting_words_stay(anonymizer, text):
    assert anonymizer.anonymize_texts([text]).texts == [text]


@pytest.mark.parametrize(
    "text",
    [
        "Whenevr ur sad, remembr im here",
        "Waitin 4 u at the station lor...",
        "Guessin you ain't coming before 9?",
        "Tomarrow i have to go to court.",
        "Wherre's my charger?",
        "Somewhr out there someone is waiting",
    ],
)
def test_texting_respellings_of_words_are_not_names_or_places(anonymizer, text):
    assert anonymizer.anonymize_texts([text]).texts == [text]


@pytest.mark.parametrize(
    "text",
    [
        "Good morning, my Love ... I miss you",
        "Sleep well my Lion",
        "So I'm not your Valentine this year?",
        "HI BABE IM AT HOME NOW WANNA DO SOMETHING? XX",
        "HOWS U? MY FONE WAS ON CHARGE",
        "WHERE U AT? ITS LATE",
    ],
)
def test_endearments_kisses_and_shouted_texting_are_not_names(anonymizer, text):
    assert anonymizer.anonymize_texts([text]).texts == [text]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("tell tomo i said hi", "tomo"),  # a texting word with a chat cue is a name
        ("hey noe!!", "noe"),
        ("my sister Rose is here", "Rose"),  # a relation word before it, not a possessive
        ("HEY KATE U MISSED IT", "KATE"),
        ("omg halina just called me", "halina"),  # a rare name, no cue: still a name
        ("Shuhui says hi", "Shuhui"),
    ],
)
def test_names_beside_the_texting_rules_are_still_replaced(anonymizer, text, name):
    assert name not in anonymizer.anonymize_texts([text]).texts[0]


def test_a_shouted_name_takes_no_shouted_word_after_it_as_a_family_name(anonymizer):
    assert anonymizer.anonymize_texts(["HEY KATE U MISSED IT"]).texts[0].endswith(" U MISSED IT")
    assert "SMITH" not in anonymizer.anonymize_texts(["HEY JOHN SMITH"]).texts[0]


@pytest.mark.parametrize(
    ("text", "name", "kept"),
    [
        ("Have a great week, see you soon. Abiola", "Abiola", "see you soon. "),
        ("Pls call me up before class. Hrishi.", "Hrishi", "before class. "),
        ("CANT WAIT 2 SEE U! LOVE JEN XXX", "JEN", " XXX"),
        ("bring it in 2mrw 4 u luv Franxx", "Fran", "xx"),  # the kisses stay
    ],
)
def test_the_name_a_text_is_signed_with_is_replaced(anonymizer, text, name, kept):
    out = anonymizer.anonymize_texts([text]).texts[0]
    assert name not in out and kept in out


@pytest.mark.parametrize(
    "text",
    [
        "Okie.. Thanx..",  # texting, not a name
        "Make today count.. GOODMORNING:)",  # two words run together
        "there is always trust and love... BSLVYL",  # no vowel: an acronym
        "pls give back the documents we sent from Stapati",  # "from" signs nothing
        "Miss ya, need ya, love ya",
    ],
)
def test_a_last_word_that_signs_nothing_stays(anonymizer, text):
    assert anonymizer.anonymize_texts([text]).texts == [text]


@pytest.mark.parametrize(
    "text",
    [
        "Yo theres no class tmrw right?",  # a chat word greeted, and the sentence goes on
        "Hi hope u get this txt",
        "What happen dear tell me",
        "Aftr they sat they wer told dat the plane ws made by their students",
        "we jus tot u would ask cos u ba gua",  # texting's "that" and "because"
        "the guy wants sell wifi only for now",  # a word after a determiner is a role
        "Sad story of a Man - Last week was my b'day",
        "I put the latest status into the Jira ticket.",  # no one is "the X"
        "Are there any usage statistics for the Wiki?",
        "Realy sorry-i don't recognise this number",  # a doubled letter written once
        "Same. Wana plan a trip sometme then",
        "my SMS to give you warm and Peaceful Sleep. Good Night",  # a time of day
        'When I was born, GOD said, "Oh No! Another IDIOT".',  # no person's data
    ],
)
def test_greeted_chat_words_determined_words_and_texting_spellings_stay(anonymizer, text):
    assert anonymizer.anonymize_texts([text]).texts == [text]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Hi Hope! how was the trip", "Hope"),  # Capitalized after the greeting
        ("hey hope, u there?", "hope"),  # greeted, and the greeting ends there
        ("Unlike the Jensen novel, it is short", "Jensen"),  # a family name after "the"
        ("i met Will at the station", "Will"),
    ],
)
def test_names_beside_the_greeting_and_determiner_rules_are_still_replaced(anonymizer, text, name):
    assert name not in anonymizer.anonymize_texts([text]).texts[0]
