import pytest

from hashtrail import config


def test_defaults_load():
    s = config.load({})
    assert s.db == "hashtrail.db"
    assert 0 < s.phash_threshold <= 64


def test_environment_overrides_are_typed():
    s = config.load({"HASHTRAIL_DB": "/data/ira.db", "HASHTRAIL_WORKERS": "3", "HASHTRAIL_MIN_DETAIL": "2.5"})
    assert (s.db, s.workers, s.min_detail) == ("/data/ira.db", 3, 2.5)


def test_bad_environment_value_names_the_variable():
    with pytest.raises(config.ConfigError, match="HASHTRAIL_WORKERS='two'"):
        config.load({"HASHTRAIL_WORKERS": "two"})


def test_out_of_range_threshold_is_refused():
    with pytest.raises(config.ConfigError, match="phash_threshold"):
        config.load({"HASHTRAIL_PHASH_THRESHOLD": "65"})


def test_replace_ignores_unset_cli_options():
    s = config.load({})
    assert s.replace(db=None, workers=4).db == s.db
    assert s.replace(db=None, workers=4).workers == 4


def test_malformed_path_map_is_refused_at_start():
    with pytest.raises(config.ConfigError, match="path_map"):
        config.load({"HASHTRAIL_PATH_MAP": "/data/ira:/mnt/ira"})
    assert config.load({"HASHTRAIL_PATH_MAP": "/data/ira=/mnt/ira; /x=/y"}).path_map


def test_visibility_timeout_must_outlast_two_batches():
    with pytest.raises(config.ConfigError, match="visibility_timeout_s"):
        config.load({"HASHTRAIL_BATCH_TIME_LIMIT_S": "2000", "HASHTRAIL_VISIBILITY_TIMEOUT_S": "3600"})
