import pytest

from hashtrail.pipeline.archive.accounts import AccountRule, relative_to_root
from hashtrail.pipeline.errors import HashtrailError
from hashtrail import config

RULE = AccountRule.from_settings(config.load({}))
SHA_USER = "a" * 64


@pytest.mark.parametrize("rel,account,post", [
    (f"ira_1/{SHA_USER}/images/947698689156055040-d39zzzzg4z.jpg", SHA_USER, "947698689156055040"),
    ("ira_12/Zm9vYmFyYmF6PT0=/videos/1012345678901234567-abc.mp4", "Zm9vYmFyYmF6PT0=", "1012345678901234567"),
    (f"{SHA_USER}/images/11-x.png", SHA_USER, "11"),
])
def test_twitter_io_layout(rel, account, post):
    who = RULE.attribute(rel)
    assert (who.account, who.post_id) == (account, post)


def test_fallback_is_first_directory_under_root():
    who = RULE.attribute("alice/holiday/photo.jpg")
    assert (who.account, who.post_id) == ("alice", None)


def test_file_directly_in_root_has_no_account():
    assert RULE.attribute("photo.jpg").account is None


def test_custom_pattern_for_gallery_dl_layout():
    rule = AccountRule(r"twitter/(?P<account>[^/]+)/(?P<post_id>\d+)_\d+\.\w+$")
    who = rule.attribute("twitter/some_user/1234567890_1.jpg")
    assert (who.account, who.post_id) == ("some_user", "1234567890")


def test_fallback_none():
    assert AccountRule(r"(?P<account>x)^", "none").attribute("alice/a.jpg").account is None


@pytest.mark.parametrize("pattern,message", [("(unclosed", "not a valid regular expression"),
                                             (r"(?P<user>\w+)/", "named group")])
def test_bad_patterns_are_clear_errors(pattern, message):
    with pytest.raises(HashtrailError, match=message):
        AccountRule(pattern)


def test_scanning_one_accounts_folder_keeps_its_account():
    root = f"/data/ira_1/{SHA_USER}"
    who = RULE.attribute(f"{root}/images/11-x.jpg", root)
    assert (who.account, who.post_id) == (SHA_USER, "11")


def test_fallback_is_relative_to_the_root():
    assert RULE.attribute("/data/dump/alice/a.jpg", "/data/dump").account == "alice"


def test_relative_to_root_uses_slashes(tmp_path):
    assert relative_to_root(str(tmp_path / "a" / "b.jpg"), str(tmp_path)) == "a/b.jpg"
