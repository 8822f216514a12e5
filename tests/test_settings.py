"""Settings.from_env: good values parse, every bad one is refused at start with one line naming the variable."""

from __future__ import annotations

import pytest

from akool_ui.settings import DEFAULT_BASE_URL, Settings

NUMBERS = ["AKOOL_CACHE_LIMIT_GB", "AKOOL_CACHE_OWNER_LIMIT_GB", "AKOOL_POLL_INTERVAL", "AKOOL_JOB_DEADLINE",
           "AKOOL_DEMO_SPEED"]
URLS = ["AKOOL_BASE_URL", "AKOOL_PUBLIC_URL"]


def refused(env: dict[str, str]) -> str:
    """The error message from_env gives for ``env``; it must be one line."""
    with pytest.raises(ValueError) as info:
        Settings.from_env(env)
    message = str(info.value)
    assert "\n" not in message and message
    return message


# --- numbers ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NUMBERS + ["AKOOL_CACHE_MIN_AGE_HOURS", "AKOOL_POLL_BUDGET"])
@pytest.mark.parametrize("raw", ["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e999", "abc", "1,5", "-1"])
def test_non_finite_negative_and_non_numbers_are_refused(name, raw):
    message = refused({name: raw})
    assert message.startswith(name + " ")


@pytest.mark.parametrize("name", NUMBERS)
@pytest.mark.parametrize("raw", ["0", "0.0", "-0"])
def test_zero_is_refused_where_it_means_nothing(name, raw):
    assert refused({name: raw}) == f"{name} must be greater than 0"


def test_the_messages_say_what_is_wrong_and_echo_at_most_40_characters():
    assert refused({"AKOOL_POLL_INTERVAL": "nan"}) == "AKOOL_POLL_INTERVAL must be a finite number, got 'nan'"
    assert refused({"AKOOL_JOB_DEADLINE": "abc"}) == "AKOOL_JOB_DEADLINE must be a number, got 'abc'"
    assert refused({"AKOOL_CACHE_MIN_AGE_HOURS": "-1"}) == "AKOOL_CACHE_MIN_AGE_HOURS must be at least 0"
    assert refused({"AKOOL_DEMO_SPEED": "1001"}) == "AKOOL_DEMO_SPEED must be at most 1000"
    long = "x" * 39 + "SECRET-TAIL" * 10
    message = refused({"AKOOL_CACHE_LIMIT_GB": long})
    assert "SECRET" not in message and len(message) < 100


def test_good_numbers_parse():
    settings = Settings.from_env({
        "AKOOL_CACHE_LIMIT_GB": "0.5", "AKOOL_CACHE_OWNER_LIMIT_GB": " 0.25 ", "AKOOL_CACHE_MIN_AGE_HOURS": "0",
        "AKOOL_POLL_INTERVAL": "0.05", "AKOOL_JOB_DEADLINE": "1e3", "AKOOL_DEMO_SPEED": "1000",
    })
    assert (settings.cache_limit_gb, settings.cache_owner_limit_gb, settings.cache_min_age_hours) == (0.5, 0.25, 0.0)
    assert (settings.poll_interval, settings.job_deadline, settings.demo_speed) == (0.05, 1000.0, 1000.0)


def test_poll_schedule_and_budget():
    default = Settings.from_env({})
    assert (default.poll_schedule, default.poll_budget) == ("learned", 10.0)
    steady = Settings.from_env({"AKOOL_POLL_SCHEDULE": " Steady ", "AKOOL_POLL_BUDGET": "0"})
    assert (steady.poll_schedule, steady.poll_budget) == ("steady", 0.0)  # 0: no budget
    assert refused({"AKOOL_POLL_SCHEDULE": "fast"}) == "AKOOL_POLL_SCHEDULE must be one of learned, steady, got 'fast'"


def test_unset_and_blank_variables_take_the_defaults():
    blank = Settings.from_env({name: "  " for name in NUMBERS + URLS + ["AKOOL_CACHE_MIN_AGE_HOURS"]})
    assert blank == Settings.from_env({}) == Settings(cache_dir=blank.cache_dir)
    assert blank.base_url == DEFAULT_BASE_URL and blank.public_url is None and blank.demo_mode


# --- URLs ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", URLS)
@pytest.mark.parametrize(
    "raw, complaint",
    [
        ("ftp://example.com", "must start with http:// or https://, got 'ftp://example.com'"),
        ("example.com", "must start with http:// or https://"),
        ("file:///etc/passwd", "must start with http:// or https://"),
        ("javascript:alert(1)", "must start with http:// or https://"),
        ("http://", "must name a host"),
        ("https:///path", "must name a host"),
        ("http://[::1", "is not a valid URL"),
        ("http://example.com:99999", "is not a valid URL"),
        ("http://example.com:port", "is not a valid URL"),
        ("https://example.com/a b", "must be a URL without spaces or control characters"),
        ("https://example.com/\x00", "must be a URL without spaces or control characters"),
        ("https://example.com/?token=1", "must not have a query (?...) or fragment (#...)"),
        ("https://example.com?", "must not have a query (?...) or fragment (#...)"),
        ("https://example.com/#top", "must not have a query (?...) or fragment (#...)"),
    ],
)
def test_bad_urls_are_refused_with_a_sentence_naming_the_variable(name, raw, complaint):
    assert refused({name: raw}).startswith(f"{name} {complaint}")


@pytest.mark.parametrize("name", URLS)
@pytest.mark.parametrize("raw", ["https://user:hunter2@example.com", "http://hunter2@example.com/",
                                 "hunter2:pw@example.com", "https://example.com/?key=hunter2"])
def test_credentials_in_a_url_are_refused_without_being_echoed(name, raw):
    message = refused({name: raw})
    assert message.startswith(name + " ") and "hunter2" not in message and "example.com" not in message


def test_a_long_bad_url_is_echoed_40_characters_at_most():
    raw = "ftp://example.com/" + "a" * 22 + "TAIL-NOT-SHOWN"
    message = refused({"AKOOL_BASE_URL": raw})
    assert repr(raw[:40]) in message and "TAIL" not in message


def test_good_urls_parse_and_lose_trailing_slashes():
    settings = Settings.from_env({"AKOOL_BASE_URL": "http://127.0.0.1:8000/", "AKOOL_PUBLIC_URL":
                                  "https://studio.example.org/app/"})
    assert settings.base_url == "http://127.0.0.1:8000" and settings.base_url_from_env
    assert settings.public_url == "https://studio.example.org/app"
    assert Settings.from_env({"AKOOL_BASE_URL": "http://[::1]:9/"}).base_url == "http://[::1]:9"
    assert Settings.from_env({"SPACE_HOST": "me-studio.hf.space"}).public_url == "https://me-studio.hf.space"
    assert Settings.from_env({"SPACE_HOST": "me-studio.hf.space",
                              "AKOOL_PUBLIC_URL": "https://mine.example"}).public_url == "https://mine.example"


def test_a_bad_space_host_is_named():
    assert refused({"SPACE_HOST": "bad host"}).startswith("SPACE_HOST ")


def test_trusted_proxies_are_none_by_default_the_platforms_on_spaces_and_parsed_as_networks():
    from akool_ui.cli.serve import share_settings
    from akool_ui.settings import LOOPBACK_NETWORKS, PRIVATE_NETWORKS

    assert Settings.from_env({}).proxy_networks == ()
    assert Settings.from_env({"SPACE_ID": "me/studio"}).proxy_networks == PRIVATE_NETWORKS
    assert Settings.from_env({"SPACE_ID": "me/studio", "AKOOL_TRUSTED_PROXIES": "none"}).proxy_networks == ()
    parsed = Settings.from_env({"AKOOL_TRUSTED_PROXIES": " 127.0.0.1, 10.1.2.3/8 ,fd00::/8"}).proxy_networks
    assert parsed == ("127.0.0.1/32", "10.0.0.0/8", "fd00::/8")
    with pytest.raises(ValueError, match="AKOOL_TRUSTED_PROXIES must be addresses or networks.*'nginx'"):
        Settings.from_env({"AKOOL_TRUSTED_PROXIES": "127.0.0.1,nginx"})
    # a --share link trusts its tunnel on this machine, unless told otherwise
    assert share_settings(Settings.from_env({})).proxy_networks == LOOPBACK_NETWORKS
    assert share_settings(Settings.from_env({"AKOOL_TRUSTED_PROXIES": "none"})).proxy_networks == ()


def test_the_shared_defaults_include_the_network_and_app_wide_rates():
    limits = Settings.from_env({"AKOOL_SHARED": "1", "AKOOL_LIMIT_IMAGES_PER_MINUTE": "0"}).limits
    assert (limits.network_images_per_hour, limits.network_jobs_in_flight) == (96, 16)
    assert limits.images_per_minute is None  # 0 turns it off
    assert Settings.from_env({"AKOOL_SHARED": "1"}).limits.images_per_minute == 20
