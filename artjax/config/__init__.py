"""The config schema, its loading and its validation."""

from artjax.config.defaults import defaults
from artjax.config.load import apply_override, check_key, load_config, load_saved_config
from artjax.config.smoke import apply_smoke
from artjax.config.variants import parse_variant
from artjax.config.validate import ConfigError, flat_keys, validate

__all__ = ["ConfigError", "apply_override", "apply_smoke", "check_key", "defaults", "flat_keys", "load_config", "load_saved_config",
           "parse_variant", "validate"]
