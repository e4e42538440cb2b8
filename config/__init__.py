"""Settings from the environment and the YAML config file, validated at start-up."""

from config.file import (
    Account,
    BatonConfig,
    Business,
    Queue,
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
    "ManifestSettings",
    "Queue",
    "ResponseTargets",
    "Settings",
    "Shift",
    "load_config",
    "load_manifest_settings",
    "load_settings",
]
