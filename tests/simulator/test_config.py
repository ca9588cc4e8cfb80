"""EmulatorConfig and FaultConfig validation, and where the accepted keys come from."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from orchestrator.errors import ConfigError
from orchestrator.simulator import (
    DEFAULT_QPS,
    DEMO_ACCESS_KEY_ID,
    DEMO_ACCESS_KEY_SECRET,
    EmulatorConfig,
    FaultConfig,
    resolve_access_keys,
)
from orchestrator.simulator.config import fault_overrides, parse_access_key


def test_defaults_are_the_published_limits_and_the_demo_key() -> None:
    """A default config limits each action as published and accepts only the demo pair."""
    config = EmulatorConfig()
    assert dict(config.qps) == {
        "SubmitAIImageJob": 30.0,
        "ListAIJob": 100.0,
        "GetAIImageJobs": 100.0,
        "ListAIImageInfo": 100.0,
        "GetImageInfos": 10.0,
    }
    assert dict(config.access_keys) == {DEMO_ACCESS_KEY_ID: DEMO_ACCESS_KEY_SECRET}
    assert config.clock_skew_tolerance_s == 900.0
    assert config.videos is None


def test_qps_overrides_merge_with_the_defaults_and_zero_means_unlimited() -> None:
    """Only the named actions change; 0 and None both lift the limit."""
    config = EmulatorConfig(qps={"ListAIJob": 0, "GetImageInfos": None, "SubmitAIImageJob": 5})
    assert config.qps["ListAIJob"] is None
    assert config.qps["GetImageInfos"] is None
    assert config.qps["SubmitAIImageJob"] == 5.0
    assert config.qps["ListAIImageInfo"] == DEFAULT_QPS["ListAIImageInfo"]


def test_repr_never_shows_a_secret() -> None:
    """Printing a config (e.g. in a log line) leaks no access key secret."""
    config = EmulatorConfig(access_keys={"key-id": "very-secret-value"})
    assert "very-secret-value" not in repr(config)


def test_config_is_frozen_in_depth() -> None:
    """Neither the config nor the mappings it was given can change a running emulator."""
    keys = {"id": "secret"}
    config = EmulatorConfig(access_keys=keys, qps={"ListAIJob": 3})
    keys["other"] = "x"
    assert dict(config.access_keys) == {"id": "secret"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.qps["ListAIJob"] = 9  # type: ignore[index]


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"time_scale": 0}, "simulator.time_scale"),
        ({"time_scale": float("inf")}, "simulator.time_scale"),
        ({"duration_median_s": -1}, "simulator.duration_median_s"),
        ({"duration_sigma": -0.1}, "simulator.duration_sigma"),
        ({"fail_rate": 1.5}, "simulator.fail_rate"),
        ({"visibility_lag_s": -1}, "simulator.visibility_lag_s"),
        ({"retry_after_ms": 0}, "simulator.retry_after_ms"),
        ({"images_per_job": -1}, "simulator.images_per_job"),
        ({"image_library_size": -1}, "simulator.image_library_size"),
        ({"max_remembered_nonces": 0}, "simulator.max_remembered_nonces"),
        ({"access_keys": {}}, "simulator.access_keys"),
        ({"access_keys": {"id": ""}}, "simulator.access_keys"),
        ({"qps": {"DeleteVideo": 1}}, "simulator.qps"),
        ({"qps": {"ListAIJob": -2}}, "simulator.qps.ListAIJob"),
    ],
)
def test_bad_values_are_rejected_naming_the_key(changes: dict[str, Any], key: str) -> None:
    """Each invalid setting stops construction with a ConfigError naming it."""
    with pytest.raises(ConfigError) as caught:
        EmulatorConfig(**changes)
    assert caught.value.key == key


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"internal_error": -0.1}, "simulator.internal_error"),
        ({"drop_connection": 1.1}, "simulator.drop_connection"),
        ({"latency_s": -1}, "simulator.latency_s"),
        ({"latency_spike_rate": 2}, "simulator.latency_spike_rate"),
        ({"internal_error": 0.6, "unavailable": 0.6}, "simulator.faults"),
    ],
)
def test_bad_fault_settings_are_rejected(changes: dict[str, Any], key: str) -> None:
    """Rates outside [0, 1], negative latencies and rates summing above 1 are errors."""
    with pytest.raises(ConfigError) as caught:
        FaultConfig(**changes)
    assert caught.value.key == key


def test_fault_config_quietness() -> None:
    """Only a config that can neither fault nor delay a call is quiet."""
    assert FaultConfig().is_quiet
    assert FaultConfig(latency_spike_rate=0.5).is_quiet  # spikes of 0 s delay nothing
    assert not FaultConfig(latency_s=0.01).is_quiet
    assert not FaultConfig(malformed_body=0.01).is_quiet


def test_fault_overrides_check_names_and_types() -> None:
    """A partial fault update accepts known numeric settings only."""
    assert fault_overrides({"internal_error": 1}) == {"internal_error": 1.0}
    with pytest.raises(ConfigError, match="unknown fault setting"):
        fault_overrides({"internal_errors": 0.1})
    with pytest.raises(ConfigError):
        fault_overrides({"latency_s": True})


def test_explicit_key_pairs_win_and_secrets_may_contain_colons() -> None:
    """`ID:SECRET` pairs are split at the first colon and override the environment."""
    environ = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "env-id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s"}
    assert resolve_access_keys(["a:b:c", "d:e"], environ) == {"a": "b:c", "d": "e"}


def test_environment_keys_come_next_then_the_demo_pair() -> None:
    """Without pairs the standard variables are used, and without those the demo pair."""
    environ = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "env-id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s"}
    assert resolve_access_keys([], environ) == {"env-id": "s"}
    assert resolve_access_keys([], {}) == {DEMO_ACCESS_KEY_ID: DEMO_ACCESS_KEY_SECRET}


def test_half_a_key_pair_in_the_environment_names_the_missing_variable() -> None:
    """An id without its secret (or the reverse) is an error naming what is missing."""
    with pytest.raises(ConfigError) as caught:
        resolve_access_keys([], {"ALIBABA_CLOUD_ACCESS_KEY_ID": "id"})
    assert caught.value.key == "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
    with pytest.raises(ConfigError) as caught:
        resolve_access_keys([], {"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s"})
    assert caught.value.key == "ALIBABA_CLOUD_ACCESS_KEY_ID"


@pytest.mark.parametrize("text", ["no-colon", ":secret", "id:"])
def test_malformed_key_pairs_are_rejected(text: str) -> None:
    """A pair needs both an id and a secret."""
    with pytest.raises(ConfigError) as caught:
        parse_access_key(text)
    assert caught.value.key == "simulator.access_key"
