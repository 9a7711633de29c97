"""Configuration files: byte-for-byte round trips, one-line edits, documented site.conf rules."""

import os

import pytest

from cjc.config import daemonconf, siteconf
from cjc.errors import ConfigError
from cjc.config.keyvalue import KeyValueFile

SAMPLE = ("# common settings\n"
          "local_daemon=OFF\n"
          "\n"
          "  # indented comment\n"
          "vendor_option=42\r\n"
          "maintenance=OFF")  # no final newline


def write(tmp_path, text, name="daemon.conf"):
    path = tmp_path / name
    path.write_bytes(text.encode())
    return str(path)


def test_untouched_file_round_trips_byte_for_byte(tmp_path):
    conf = KeyValueFile.load(write(tmp_path, SAMPLE))
    assert conf.text() == SAMPLE
    assert not conf.changed()


def test_setting_a_key_rewrites_only_its_line(tmp_path):
    path = write(tmp_path, SAMPLE)
    conf = KeyValueFile.load(path)
    assert conf.set("local_daemon", "SITE") is True
    conf.save()
    assert open(path, "rb").read().decode() == SAMPLE.replace("local_daemon=OFF", "local_daemon=SITE")


def test_setting_the_same_value_is_no_change(tmp_path):
    conf = KeyValueFile.load(write(tmp_path, SAMPLE))
    assert conf.set("vendor_option", "42") is False
    assert not conf.changed()


def test_new_key_is_appended_after_a_missing_final_newline(tmp_path):
    conf = KeyValueFile.load(write(tmp_path, SAMPLE))
    conf.set("ipaddress", "10.0.0.1")
    assert conf.text() == SAMPLE + "\nipaddress=10.0.0.1\n"


def test_crlf_line_keeps_its_ending_when_edited(tmp_path):
    conf = KeyValueFile.load(write(tmp_path, SAMPLE))
    conf.set("vendor_option", "43")
    assert "vendor_option=43\r\n" in conf.text()


def test_removing_a_key_keeps_everything_else(tmp_path):
    conf = KeyValueFile.load(write(tmp_path, SAMPLE))
    assert conf.remove("local_daemon") is True
    assert conf.text() == SAMPLE.replace("local_daemon=OFF\n", "")
    assert conf.remove("local_daemon") is False


def test_missing_file_is_empty_and_created_on_save(tmp_path):
    path = str(tmp_path / "new.conf")
    conf = KeyValueFile.load(path)
    assert not conf.exists and conf.values() == {}
    conf.set("maintenance", "ON")
    conf.save()
    assert open(path).read() == "maintenance=ON\n"
    assert os.stat(path).st_mode & 0o777 == 0o644


def test_save_keeps_the_mode_of_an_existing_file(tmp_path):
    path = write(tmp_path, SAMPLE)
    os.chmod(path, 0o600)
    conf = KeyValueFile.load(path)
    conf.set("maintenance", "ON")
    conf.save()
    assert os.stat(path).st_mode & 0o777 == 0o600


@pytest.mark.parametrize("line, message", [
    ("BOOT_TIMEOUT = 60", "blanks at the start of the line or around '='"),
    (" BOOT_TIMEOUT=60", "blanks at the start of the line or around '='"),
    ("BOOT_TIMEOUT= 60", "blanks at the start of the line or around '='"),
    ("BOOT_TIMEOUT\t=60", "blanks at the start of the line or around '='"),
    ("BOOT_TIMEOUT 60", "no '=' in line"),
    ("=60", "no key before '='"),
])
def test_malformed_line_is_reported_with_file_and_line(tmp_path, line, message):
    path = write(tmp_path, "# timings\n%s\n" % line, "site.conf")
    timings, diagnostics = siteconf.load_site_conf(path)
    assert timings.boot_timeout == 180  # the malformed line does not count...
    assert any(str(d) == "%s:2: malformed line: %s" % (path, message)
               or str(d).startswith("%s:2: malformed line: %s" % (path, message)) for d in diagnostics)
    assert KeyValueFile.load(path).text() == "# timings\n%s\n" % line  # ...and is never dropped


def test_unknown_key_is_reported_and_kept(tmp_path):
    path = write(tmp_path, "BOOT_TIMOUT=60\n", "site.conf")
    _timings, diagnostics = siteconf.load_site_conf(path)
    assert [str(d) for d in diagnostics] == [
        "%s:1: unknown key 'BOOT_TIMOUT' (known: BOOT_TIMEOUT, FORCEKILL_TIME, STOP_TIMEOUT)" % path]
    conf = KeyValueFile.load(path)
    conf.set("STOP_TIMEOUT", "60")
    assert conf.text() == "BOOT_TIMOUT=60\nSTOP_TIMEOUT=60\n"


def test_duplicate_key_last_wins_and_is_reported(tmp_path):
    path = write(tmp_path, "STOP_TIMEOUT=60\nSTOP_TIMEOUT=90\n", "site.conf")
    timings, diagnostics = siteconf.load_site_conf(path)
    assert timings.stop_timeout == 90
    assert "%s:2: duplicate key 'STOP_TIMEOUT' (line 1 is overridden)" % path in [str(d) for d in diagnostics]


def test_missing_site_conf_gives_the_documented_defaults(tmp_path):
    timings, diagnostics = siteconf.load_site_conf(str(tmp_path / "absent.conf"))
    assert timings == (180, 180, 10) and diagnostics == []
    assert (timings.orderly_seconds, timings.total_stop_seconds) == (170, 180)


@pytest.mark.parametrize("key, raw, expected, problem", [
    ("BOOT_TIMEOUT", "29", 30, "below the minimum"),
    ("BOOT_TIMEOUT", "30", 30, None),
    ("BOOT_TIMEOUT", "-5", 30, "negative"),
    ("BOOT_TIMEOUT", "abc", 30, "not a number"),
    ("BOOT_TIMEOUT", "", 30, "not a number"),
    ("BOOT_TIMEOUT", "2147483647", 2147483647, None),
    ("BOOT_TIMEOUT", "2147483648", 2147483647, "above the maximum"),
    ("STOP_TIMEOUT", "29", 30, "below the minimum"),
    ("STOP_TIMEOUT", "-5", 30, "negative"),
    ("STOP_TIMEOUT", "300", 300, None),
    ("FORCEKILL_TIME", "0", 1, "below the minimum"),
    ("FORCEKILL_TIME", "1", 1, None),
    ("FORCEKILL_TIME", "-5", 1, "negative"),
    ("FORCEKILL_TIME", "1.5", 1, "not a number"),
    ("FORCEKILL_TIME", "2147483648", 2147483647, "above the maximum"),
])
def test_site_conf_table_edges(tmp_path, key, raw, expected, problem):
    path = write(tmp_path, "%s=%s\n" % (key, raw), "site.conf")
    timings, diagnostics = siteconf.load_site_conf(path)
    assert timings._asdict()[key.lower()] == expected
    problems = [str(d) for d in diagnostics if ">= STOP_TIMEOUT" not in str(d)]
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1
        assert problems[0].startswith("%s:1: %s=%s is %s" % (path, key, raw, problem))


def test_forcekill_not_below_stop_forces_the_whole_stop(tmp_path):
    path = write(tmp_path, "STOP_TIMEOUT=30\nFORCEKILL_TIME=45\n", "site.conf")
    timings, diagnostics = siteconf.load_site_conf(path)
    assert timings.forced_from_start
    assert (timings.orderly_seconds, timings.total_stop_seconds) == (0, 45)
    assert any(str(d).startswith("%s:2: FORCEKILL_TIME=45 >= STOP_TIMEOUT=30" % path) for d in diagnostics)


def test_documented_example_timings(tmp_path):
    path = write(tmp_path, "BOOT_TIMEOUT=200\nSTOP_TIMEOUT=300\nFORCEKILL_TIME=5\n", "site.conf")
    timings, diagnostics = siteconf.load_site_conf(path)
    assert timings == (200, 300, 5) and diagnostics == []
    assert timings.orderly_seconds == 295


@pytest.mark.parametrize("key, value", [("BOOT_TIMEOUT", "29"), ("STOP_TIMEOUT", "abc"),
                                        ("FORCEKILL_TIME", "-1"), ("BOOT_TIMEOUT", "2147483648"),
                                        ("NO_SUCH", "30")])
def test_strict_check_refuses_values_that_would_be_clamped(key, value):
    with pytest.raises(ConfigError):
        siteconf.check_value(key, value)


def test_strict_check_accepts_range_values():
    assert siteconf.check_value("BOOT_TIMEOUT", 30) == "30"
    assert siteconf.check_value("FORCEKILL_TIME", "2147483647") == "2147483647"


@pytest.mark.parametrize("scope, key, value, normal", [
    ("common", "local_daemon", "SITE", "SITE"),
    ("common", "local_daemon", "OFF", "OFF"),
    ("common", "maintenance", "ON", "ON"),
    ("site", "ipaddress", "192.168.1.100", "192.168.1.100"),
    ("site", "nqs_port", "607", "607"),
    ("site", "history_retention", "7d", "7d"),
    ("site", "history_retention", "007d", "7d"),
    ("site", "history_retention", "60m", "60m"),
    ("site", "history_retention", "3600s", "3600s"),
    ("site", "history_retention", "36500d", "36500d"),
    ("site", "history_retention", "OFF", "OFF"),
    ("site", "history_export", "ON", "ON"),
])
def test_daemon_conf_valid_values(scope, key, value, normal):
    assert daemonconf.check_value(scope, key, value) == normal


@pytest.mark.parametrize("scope, key, value, message", [
    ("common", "local_daemon", "on", "local_daemon=on is not valid: use SITE or OFF"),
    ("common", "maintenance", "yes", "maintenance=yes is not valid: use ON or OFF"),
    ("site", "ipaddress", "192.168.1.300", "ipaddress=192.168.1.300 is not an IPv4 address"),
    ("site", "nqs_port", "70000", "nqs_port=70000 is not a TCP port number"),
    ("common", "ipaddress", "10.0.0.1", "common daemon.conf has no key 'ipaddress'"),
    ("site", "history_retention", "59m", "history_retention=59m is not valid: a time from 1h to 36500d"),
    ("site", "history_retention", "36501d", "history_retention=36501d is not valid"),
    ("site", "history_retention", "7", "history_retention=7 is not valid"),
    ("site", "history_retention", "7w", "history_retention=7w is not valid"),
    ("site", "history_retention", "-1d", "history_retention=-1d is not valid"),
    ("site", "history_retention", "d", "history_retention=d is not valid"),
    ("site", "history_retention", "", "history_retention= is not valid"),
    ("site", "history_export", "yes", "history_export=yes is not valid: use ON or OFF"),
])
def test_daemon_conf_bad_values(scope, key, value, message):
    with pytest.raises(ConfigError) as err:
        daemonconf.check_value(scope, key, value)
    assert str(err.value).startswith(message)


def test_daemon_conf_load_reports_bad_values_and_unknown_keys(tmp_path):
    path = write(tmp_path, "ipaddress=10.0.0.300\nipcheck=OFF\nnqs_port=608\n")
    settings, diagnostics = daemonconf.load_daemon_conf(path, "site")
    assert settings == {"nqs_port": "608"}
    assert [str(d).split(":")[1] for d in diagnostics] == ["2", "1"]
    assert "ipaddress=10.0.0.300 is not an IPv4 address" in str(diagnostics[1])
    assert "unknown key 'ipcheck'" in str(diagnostics[0])


@pytest.mark.parametrize("text, expected", [
    ("", (7 * 86400, False)),
    ("history_retention=12h\nhistory_export=ON\n", (12 * 3600, True)),
    ("history_retention=OFF\n", (None, False)),
    ("history_retention=5s\nhistory_export=maybe\n", (7 * 86400, False)),  # bad values: reported, defaults
])
def test_history_retention_of_a_site(tmp_path, text, expected):
    path = write(tmp_path, text)
    site = type("Site", (), {"daemon_conf": path})()
    assert daemonconf.history_retention(site) == expected


def test_values_with_newlines_are_refused(tmp_path):
    conf = KeyValueFile.load(write(tmp_path, ""))
    with pytest.raises(ConfigError):
        conf.set("ipaddress", "1.2.3.4\nmaintenance=ON")
