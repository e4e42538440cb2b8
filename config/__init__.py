"""Settings from the environment and the YAML config file, validated at start-up."""

from config.file import (
    Account,
    BatonConfig,
    Business,
    Csat,
    DigestTime,
    Queue,
    ReportsConfig,
    ResponseTargets,
    Shift,
    load_config,
)
from config.settings import (
    ConfigError,
    ManifestSettings,
    Settings,
    load_manifest_settings,
    load_settings,
)

__all__ = [
    "Account",
    "BatonConfig",
    "Business",
    "ConfigError",
    "Csat",
    "DigestTime",
    "ManifestSettings",
    "Queue",
    "ReportsConfig",
    "ResponseTargets",
    "Settings",
    "Shift",
    "load_config",
    "load_manifest_settings",
    "load_settings",
]
