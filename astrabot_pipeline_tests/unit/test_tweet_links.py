from astrabot_pipeline.enrichment import find_twitter_references
from astrabot_pipeline.enrichment.nitter import parse_nitter_status_page


def test_twitter_and_x_status_links_are_found_with_their_ids():
    text = (
        "lol https://twitter.com/some_user/status/1790000000000000001?s=20 and "
        "https://x.com/Other/status/1790000000000000002/photo/1, also https://mobile.twitter.com/a/statuses/12345678"
    )
    refs = find_twitter_references(text)
    assert [r.tweet_id for r in refs] == ["1790000000000000001", "1790000000000000002", "12345678"]
    assert refs[1].user == "Other"


def test_links_that_are_not_statuses_and_missing_bodies_give_nothing():
    assert find_twitter_references("see https://twitter.com/some_user and x.com") == []
    assert find_twitter_references(None) == []


def test_the_same_tweet_linked_twice_is_reported_once():
    text = "https://x.com/a/status/111111 https://twitter.com/a/status/111111"
    assert len(find_twitter_references(text)) == 1


def test_nitter_page_text_is_unescaped_and_stripped_of_markup():
    page = '<div class="tweet-content media-body" dir="auto">Hello &amp; <a href="/x">#tag</a><br>bye</div>'
    assert parse_nitter_status_page(page) == "Hello & #tag\nbye"
    assert parse_nitter_status_page("<html>no tweet</html>") is None
