"""Settings from the environment and the YAML config file, validated at start-up."""

from config.file import BatonConfig, Business, Queue, ResponseTargets, load_config
from config.settings import ConfigError, Settings, load_settings

__all__ = [
    "BatonConfig",
    "Business",
    "ConfigError",
    "Queue",
    "ResponseTargets",
    "Settings",
    "load_config",
    "load_settings",
]
