"""Run configuration: one validated schema and its YAML loader."""

from wnrl.config.device import check_device, check_devices
from wnrl.config.load import (
    ConfigError,
    apply_overrides,
    dump_config,
    load_config,
    parse_overrides,
    read_yaml,
    resolve_path,
    shipped,
    validate,
    validate_model,
)
from wnrl.config.schema import AgentConfig, EnvConfig, NoiseConfig, RunConfig, TrainConfig

__all__ = [
    "RunConfig",
    "EnvConfig",
    "AgentConfig",
    "TrainConfig",
    "NoiseConfig",
    "ConfigError",
    "load_config",
    "parse_overrides",
    "apply_overrides",
    "validate",
    "read_yaml",
    "resolve_path",
    "shipped",
    "dump_config",
    "validate_model",
    "check_device",
    "check_devices",
]
