"""Settings: defaults, the TOML file, environment overrides, credentials and validation."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from orchestrator.errors import ConfigError
from orchestrator.logs import LogFormat, LogLevel
from orchestrator.settings import (
    EventsSettings,
    LimitsSettings,
    PollSettings,
    Settings,
    SignatureVersion,
    StatusApi,
    VodSettings,
    load_settings,
)
from orchestrator.vod.signing import Credentials

CONFIG_FILE = Path(__file__).resolve().parents[1] / "config" / "orchestrator.toml"
SECTIONS = ("vod", "queue", "store", "events", "poll", "limits", "log")


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "orchestrator.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_toml(tmp_path: Path, text: str) -> Settings:
    return load_settings(write_toml(tmp_path, text), environ={})


def config_error(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_settings(write_toml(tmp_path, text), environ=environ or {})
    return caught.value


# --- defaults and the documented file --------------------------------------------------------


def test_defaults_without_file_or_environment() -> None:
    """With no file and an empty environment every key has its documented default."""
    settings = load_settings(environ={})

    assert settings == Settings()
    assert settings.vod.region == "cn-shanghai"
    assert settings.vod.endpoint == ""
    assert settings.vod.allow_insecure_http is False
    assert settings.vod.signature is SignatureVersion.V3
    assert settings.vod.status_api is StatusApi.LIST_AI_JOB
    assert (settings.vod.connect_timeout_s, settings.vod.read_timeout_s) == (5.0, 10.0)
    assert settings.queue.path == Path("var/queue.jsonl")
    assert settings.queue.dead_letter_path == Path("var/dead-letter.jsonl")
    assert settings.store.path == Path("var/orchestrator.db")
    assert settings.events.path == Path("var/events.jsonl")
    assert (settings.events.stdout, settings.events.webhook_url) == (False, "")
    assert settings.events.webhook_secret == ""
    poll = settings.poll
    assert (poll.initial_s, poll.multiplier, poll.max_interval_s) == (5.0, 1.5, 60.0)
    assert (poll.jitter, poll.job_timeout_s, poll.nonexist_grace_s) == (0.2, 3600.0, 30.0)
    limits = settings.limits
    assert (limits.submit_qps, limits.status_qps, limits.results_qps) == (20.0, 50.0, 50.0)
    assert (limits.images_qps, limits.max_in_flight, limits.shutdown_grace_s) == (5.0, 10_000, 10.0)
    assert settings.log.level is LogLevel.INFO
    assert settings.log.format is LogFormat.JSON
    assert settings.log.stats_interval_s == 60.0
    assert settings.credentials is None


def test_config_file_equals_defaults() -> None:
    """config/orchestrator.toml loads to exactly the code's defaults."""
    assert load_settings(CONFIG_FILE, environ={}) == Settings()


def test_config_file_lists_every_key_with_its_environment_variable() -> None:
    """The documented file names every section and key, each with its variable in a comment."""
    text = CONFIG_FILE.read_text(encoding="utf-8")
    document = tomllib.loads(text)
    defaults = Settings()

    assert tuple(document) == SECTIONS
    for section in SECTIONS:
        names = [f.name for f in dataclasses.fields(getattr(defaults, section))]
        assert list(document[section]) == names
        for name in names:
            assert f"ORCHESTRATOR_{section}_{name}".upper() in text


def test_sections_are_named_after_settings_fields() -> None:
    """Each section's TOML table name is the Settings attribute that holds it."""
    defaults = Settings()
    assert tuple(getattr(defaults, section).SECTION for section in SECTIONS) == SECTIONS


def test_settings_and_sections_are_frozen() -> None:
    """Settings cannot be changed after loading."""
    settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.poll.initial_s = 1.0  # type: ignore[misc]


# --- the TOML file -----------------------------------------------------------------------------


def test_toml_values_are_loaded_and_typed(tmp_path: Path) -> None:
    """Values from the file replace the defaults, converted to each key's type."""
    settings = load_toml(
        tmp_path,
        """
        [vod]
        region = "cn-beijing"
        signature = "v1"
        status_api = "GetAIImageJobs"
        [queue]
        path = "/data/in.jsonl"
        [poll]
        initial_s = 2
        jitter = 0.5
        [limits]
        max_in_flight = 7
        [log]
        level = "debug"
        format = "console"
        """,
    )

    assert settings.vod.region == "cn-beijing"
    assert settings.vod.signature is SignatureVersion.V1
    assert settings.vod.status_api is StatusApi.GET_AI_IMAGE_JOBS
    assert settings.queue.path == Path("/data/in.jsonl")
    assert settings.queue.dead_letter_path == Path("var/dead-letter.jsonl")
    assert settings.poll.initial_s == 2.0
    assert isinstance(settings.poll.initial_s, float)
    assert settings.poll.jitter == 0.5
    assert settings.limits.max_in_flight == 7
    assert (settings.log.level, settings.log.format) == (LogLevel.DEBUG, LogFormat.CONSOLE)


def test_missing_named_file_is_an_error(tmp_path: Path) -> None:
    """A configuration file named explicitly but absent stops start-up, naming the file."""
    missing = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as caught:
        load_settings(missing, environ={})
    assert caught.value.key == str(missing)
    assert "not found" in caught.value.problem


def test_unparseable_toml_names_file_and_toml_error(tmp_path: Path) -> None:
    """A file that is not TOML is reported with its name and the parser's message."""
    error = config_error(tmp_path, "[vod]\nregion = cn-shanghai\n")

    assert error.key == str(tmp_path / "orchestrator.toml")
    assert "line 2" in error.problem
    assert str(tmp_path / "orchestrator.toml") in str(error)


def test_unknown_section_is_an_error(tmp_path: Path) -> None:
    """A table the settings do not have is named, with the closest known section."""
    error = config_error(tmp_path, "[pol]\ninitial_s = 1\n")
    assert error.key == "pol"
    assert "unknown section" in error.problem
    assert "'poll'" in error.problem


def test_section_that_is_not_a_table_is_an_error(tmp_path: Path) -> None:
    """A section name used as a plain key is rejected."""
    assert config_error(tmp_path, 'vod = "x"\n').key == "vod"


def test_unknown_key_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    """A misspelt key is named as section.key, with the key it probably meant."""
    error = config_error(tmp_path, "[poll]\ninitial = 1\n")
    assert error.key == "poll.initial"
    assert "'poll.initial_s'" in error.problem


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[vod]\nallow_insecure_http = "yes"', "vod.allow_insecure_http"),
        ('[vod]\nconnect_timeout_s = "5"', "vod.connect_timeout_s"),
        ("[vod]\nregion = 1", "vod.region"),
        ('[vod]\nsignature = "v2"', "vod.signature"),
        ('[vod]\nstatus_api = "listaijob"', "vod.status_api"),
        ("[queue]\npath = 5", "queue.path"),
        ('[events]\nstdout = "false"', "events.stdout"),
        ("[poll]\njitter = true", "poll.jitter"),
        ("[poll]\ninitial_s = nan", "poll.initial_s"),
        ("[poll]\njob_timeout_s = inf", "poll.job_timeout_s"),
        ("[limits]\nmax_in_flight = 1.5", "limits.max_in_flight"),
        ("[limits]\nmax_in_flight = true", "limits.max_in_flight"),
        ('[log]\nlevel = "verbose"', "log.level"),
        ('[log]\nformat = "text"', "log.format"),
    ],
)
def test_wrong_type_names_the_key_and_expectation(tmp_path: Path, text: str, key: str) -> None:
    """A value of the wrong TOML type or outside an enumeration names its key and what it wants."""
    error = config_error(tmp_path, text)
    assert error.key == key
    assert "expected" in error.problem


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[vod]\nconnect_timeout_s = 0", "vod.connect_timeout_s"),
        ("[vod]\nread_timeout_s = -1", "vod.read_timeout_s"),
        ('[vod]\nregion = "CN_SHANGHAI"', "vod.region"),
        ('[queue]\npath = ""', "queue.path"),
        ('[queue]\ndead_letter_path = "var/queue.jsonl"', "queue.dead_letter_path"),
        ('[store]\npath = "."', "store.path"),
        ('[events]\npath = ""', "events.path"),
        ('[events]\nwebhook_url = "hooks.example.com/x"', "events.webhook_url"),
        ("[poll]\ninitial_s = 0", "poll.initial_s"),
        ("[poll]\nmultiplier = 0.9", "poll.multiplier"),
        ("[poll]\nmax_interval_s = 4", "poll.max_interval_s"),
        ("[poll]\njitter = 1.0", "poll.jitter"),
        ("[poll]\njitter = -0.1", "poll.jitter"),
        ("[poll]\njob_timeout_s = 0", "poll.job_timeout_s"),
        ("[poll]\nnonexist_grace_s = -1", "poll.nonexist_grace_s"),
        ("[limits]\nsubmit_qps = 0", "limits.submit_qps"),
        ("[limits]\nstatus_qps = -5", "limits.status_qps"),
        ("[limits]\nresults_qps = 0", "limits.results_qps"),
        ("[limits]\nimages_qps = 0", "limits.images_qps"),
        ("[limits]\nmax_in_flight = 0", "limits.max_in_flight"),
        ("[limits]\nshutdown_grace_s = 0", "limits.shutdown_grace_s"),
        ("[log]\nstats_interval_s = 0", "log.stats_interval_s"),
    ],
)
def test_out_of_range_value_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    """A value of the right type but outside its range names its key and the accepted range."""
    error = config_error(tmp_path, text)
    assert error.key == key
    assert "expected" in error.problem


def test_boundary_values_are_accepted(tmp_path: Path) -> None:
    """The edges of each range are valid: jitter 0, multiplier 1, max = initial, grace 0."""
    settings = load_toml(
        tmp_path,
        "[poll]\njitter = 0\nmultiplier = 1\ninitial_s = 7\nmax_interval_s = 7\n"
        "nonexist_grace_s = 0\n[limits]\nmax_in_flight = 1\n",
    )
    assert (settings.poll.jitter, settings.poll.multiplier) == (0.0, 1.0)
    assert settings.poll.max_interval_s == settings.poll.initial_s == 7.0
    assert settings.limits.max_in_flight == 1


def test_sections_validate_when_built_directly() -> None:
    """A section built in code is checked like one loaded from a file."""
    with pytest.raises(ConfigError) as caught:
        PollSettings(initial_s=10.0, max_interval_s=5.0)
    assert caught.value.key == "poll.max_interval_s"
    with pytest.raises(ConfigError) as caught:
        LimitsSettings(images_qps=0.0)
    assert caught.value.key == "limits.images_qps"


# --- the environment ---------------------------------------------------------------------------


def test_environment_overrides_defaults_and_file(tmp_path: Path) -> None:
    """ORCHESTRATOR_<SECTION>_<KEY> wins over the file and is parsed per the key's type."""
    path = write_toml(tmp_path, "[poll]\ninitial_s = 3\n[vod]\nregion = 'cn-beijing'\n")
    settings = load_settings(
        path,
        environ={
            "ORCHESTRATOR_POLL_INITIAL_S": "2.5",
            "ORCHESTRATOR_VOD_ENDPOINT": "http://127.0.0.1:9000",
            "ORCHESTRATOR_VOD_SIGNATURE": "v1",
            "ORCHESTRATOR_LIMITS_MAX_IN_FLIGHT": " 42 ",
            "ORCHESTRATOR_QUEUE_PATH": "/srv/queue.jsonl",
            "ORCHESTRATOR_LOG_LEVEL": "warning",
            "PATH": "/usr/bin",
        },
    )

    assert settings.poll.initial_s == 2.5
    assert settings.vod.region == "cn-beijing"
    assert settings.vod.endpoint == "http://127.0.0.1:9000"
    assert settings.vod.signature is SignatureVersion.V1
    assert settings.limits.max_in_flight == 42
    assert settings.queue.path == Path("/srv/queue.jsonl")
    assert settings.log.level is LogLevel.WARNING


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("false", False),
        ("0", False),
        ("No", False),
    ],
)
def test_environment_booleans(text: str, expected: bool) -> None:
    """Boolean variables accept true/false, 1/0 and yes/no in any case."""
    settings = load_settings(environ={"ORCHESTRATOR_EVENTS_STDOUT": text})
    assert settings.events.stdout is expected


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("ORCHESTRATOR_EVENTS_STDOUT", "maybe"),
        ("ORCHESTRATOR_POLL_INITIAL_S", "fast"),
        ("ORCHESTRATOR_POLL_INITIAL_S", "nan"),
        ("ORCHESTRATOR_LIMITS_MAX_IN_FLIGHT", "1.5"),
        ("ORCHESTRATOR_LOG_FORMAT", "xml"),
        ("ORCHESTRATOR_POLL_JITTER", "1"),
        ("ORCHESTRATOR_LIMITS_SUBMIT_QPS", "0"),
        ("ORCHESTRATOR_VOD_ENDPOINT", "http://vod.example.com"),
        ("ORCHESTRATOR_QUEUE_PATH", ""),
    ],
)
def test_bad_environment_value_names_the_variable(name: str, text: str) -> None:
    """A bad value that came from the environment is reported under the variable's name."""
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={name: text})
    assert caught.value.key == name
    assert "expected" in caught.value.problem


def test_cross_key_error_names_the_variable_that_set_it(tmp_path: Path) -> None:
    """max_interval_s below initial_s is reported under the variable that set max_interval_s."""
    path = write_toml(tmp_path, "[poll]\ninitial_s = 10\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={"ORCHESTRATOR_POLL_MAX_INTERVAL_S": "5"})
    assert caught.value.key == "ORCHESTRATOR_POLL_MAX_INTERVAL_S"


def test_unknown_orchestrator_variable_is_an_error() -> None:
    """A misspelt ORCHESTRATOR_ variable stops start-up, with the variable it probably meant."""
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"ORCHESTRATOR_POLL_INITIAL": "1"})
    assert caught.value.key == "ORCHESTRATOR_POLL_INITIAL"
    assert "ORCHESTRATOR_POLL_INITIAL_S" in caught.value.problem


# --- credentials -------------------------------------------------------------------------------


def test_credentials_come_from_the_standard_variables() -> None:
    """The access key pair and the optional STS token are read from ALIBABA_CLOUD_*."""
    plain = load_settings(
        environ={
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI-id",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "key-secret",
        }
    )
    sts = load_settings(
        environ={
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "STS-id",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sts-secret",
            "ALIBABA_CLOUD_SECURITY_TOKEN": "sts-token",
        }
    )

    assert plain.credentials == Credentials(access_key_id="LTAI-id", access_key_secret="key-secret")
    assert sts.credentials == Credentials(
        access_key_id="STS-id", access_key_secret="sts-secret", security_token="sts-token"
    )


@pytest.mark.parametrize(
    ("environ", "missing"),
    [
        ({"ALIBABA_CLOUD_ACCESS_KEY_ID": "id"}, "ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
        ({"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s"}, "ALIBABA_CLOUD_ACCESS_KEY_ID"),
        ({"ALIBABA_CLOUD_SECURITY_TOKEN": "t"}, "ALIBABA_CLOUD_ACCESS_KEY_ID"),
        (
            {"ALIBABA_CLOUD_ACCESS_KEY_ID": "id", "ALIBABA_CLOUD_SECURITY_TOKEN": "t"},
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        ),
    ],
)
def test_incomplete_credentials_name_the_missing_variable(
    environ: dict[str, str], missing: str
) -> None:
    """Half a credential is an error naming the variable that is missing."""
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=environ)
    assert caught.value.key == missing


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[vod]\naccess_key_secret = 'x'", "vod.access_key_secret"),
        ("[vod]\naccess_key_id = 'x'", "vod.access_key_id"),
        ("[credentials]\naccess_key_id = 'x'", "credentials"),
    ],
)
def test_credentials_in_the_file_are_rejected(tmp_path: Path, text: str, key: str) -> None:
    """Credentials are never read from the file: such keys are unknown."""
    error = config_error(tmp_path, text)
    assert error.key == key
    assert "'x'" not in str(error)


def test_credential_like_orchestrator_variable_is_rejected() -> None:
    """ORCHESTRATOR_VOD_ACCESS_KEY_SECRET is not a way in for credentials either."""
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"ORCHESTRATOR_VOD_ACCESS_KEY_SECRET": "x"})
    assert caught.value.key == "ORCHESTRATOR_VOD_ACCESS_KEY_SECRET"


# --- endpoint ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://vod.cn-shanghai.aliyuncs.com",
        "https://vod.example.com:8443/",
        "http://127.0.0.1:9000",
        "http://127.8.9.10",
        "http://[::1]:9000",
        "http://localhost:9000/",
    ],
)
def test_accepted_endpoints(endpoint: str) -> None:
    """https anywhere, and plain http to a loopback host, are accepted."""
    assert VodSettings(endpoint=endpoint).endpoint == endpoint


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://vod.example.com",
        "http://10.0.0.5:9000",
        "http://0.0.0.0:9000",
        "ftp://vod.example.com",
        "vod.cn-shanghai.aliyuncs.com",
        "https://",
        "https://vod.example.com:99999",
        "https://vod.example.com/api",
        "https://vod.example.com/?x=1",
        "https://user:pw@vod.example.com",
    ],
)
def test_rejected_endpoints(endpoint: str) -> None:
    """Anything but an http(s) base URL with a host, or http to a remote host, is rejected."""
    with pytest.raises(ConfigError) as caught:
        VodSettings(endpoint=endpoint)
    assert caught.value.key == "vod.endpoint"


def test_insecure_http_can_be_allowed_explicitly(tmp_path: Path) -> None:
    """vod.allow_insecure_http lets plain http reach a non-loopback host."""
    settings = load_toml(
        tmp_path, '[vod]\nendpoint = "http://10.0.0.5:9000"\nallow_insecure_http = true\n'
    )
    assert settings.vod.endpoint == "http://10.0.0.5:9000"


# --- derived values and secrecy -----------------------------------------------------------------


def test_vod_rates_map_limits_to_actions() -> None:
    """Each client action gets its limit; the status limit serves both status actions."""
    limits = LimitsSettings(submit_qps=1, status_qps=2, results_qps=3, images_qps=4)
    assert Settings(limits=limits).vod_rates() == {
        "SubmitAIImageJob": 1,
        "ListAIJob": 2,
        "GetAIImageJobs": 2,
        "ListAIImageInfo": 3,
        "GetImageInfos": 4,
    }


def test_settings_print_without_secrets() -> None:
    """repr and str of Settings show no credential secret, token, webhook secret or URL."""
    settings = Settings(
        events=EventsSettings(
            webhook_url="https://hooks.example.com/T0/hook-token", webhook_secret="hook-secret"
        ),
        credentials=Credentials(
            access_key_id="LTAI-id", access_key_secret="ak-secret", security_token="sts-token"
        ),
    )
    for text in (repr(settings), str(settings)):
        assert "LTAI-id" in text
        for secret in ("hook-token", "hook-secret", "ak-secret", "sts-token"):
            assert secret not in text


def test_secret_values_lists_configured_secrets() -> None:
    """secret_values gives the log redaction every secret that is set, and nothing empty."""
    assert Settings().secret_values() == ()
    settings = Settings(
        events=EventsSettings(webhook_secret="hook-secret"),
        credentials=Credentials(access_key_id="id", access_key_secret="ak-secret"),
    )
    assert sorted(settings.secret_values()) == ["ak-secret", "hook-secret"]


def test_bad_secret_value_is_not_echoed(tmp_path: Path) -> None:
    """An error about a secret key does not repeat the value."""
    error = config_error(tmp_path, '[events]\nwebhook_url = "not a url with s3cr3t"\n')
    assert error.key == "events.webhook_url"
    assert "s3cr3t" not in str(error)
    error = config_error(tmp_path, "[events]\nwebhook_secret = 123456\n")
    assert "123456" not in str(error)


@pytest.mark.parametrize(
    "text",
    ["[poll]\ninitial_s = " + "9" * 400 + "\n", "[poll]\ninitial_s = " + "9" * 5000 + "\n"],
)
def test_huge_integers_in_the_file_are_configuration_errors(tmp_path: Path, text: str) -> None:
    """An integer too large for a float, or for tomllib, is a ConfigError, not a crash."""
    path = tmp_path / "huge.toml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_settings(path, environ={})
