"""What every artjax command that takes `--config experiments/x.py[:variant]` shares: the flag,
parsing that turns config mistakes into one line and exit status 2, and validation.

Importing this module sets artjax's CPU XLA flags (runtime.py), so import it before anything imports JAX.
"""

from __future__ import annotations

import re
import sys
from typing import NoReturn

from artjax import runtime

runtime.configure_xla_cpu()

from absl import flags, logging  # noqa: E402
from ml_collections import ConfigDict, config_flags  # noqa: E402

from artjax.config import ConfigError, check_key, load_config, validate  # noqa: E402

CONFIG = config_flags.DEFINE_config_file("config", None, "experiment file, optionally with :variant",
                                         lock_config=True)


def fail(message: str, status: int = 2) -> NoReturn:
    print(f"artjax: {message}", file=sys.stderr)
    sys.exit(status)


def _config_spec(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def parse_flags(argv: list[str]) -> list[str]:
    """absl flag parsing that reports config mistakes as one line with exit status 2."""
    spec = _config_spec(argv)
    if spec is None:
        fail("--config is required, e.g. --config experiments/quickstart.py")
    try:
        config = load_config(spec)  # the file, the variant and get_config's own checks
        for key in re.findall(r"^--config\.([\w.]+)", "\n".join(argv), flags=re.M):
            check_key(config, key)
        return flags.FLAGS(argv)
    except ConfigError as error:
        fail(str(error))
    except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as error:
        fail(" ".join(str(error).split()))


def validated_config(argv: list[str]) -> ConfigDict:
    """The parsed, validated config; quiet library logging unless --verbosity was given."""
    if len(argv) > 1:
        fail(f"unexpected arguments: {' '.join(argv[1:])}")
    if not flags.FLAGS["verbosity"].present:  # libraries (orbax) log a lot at absl's INFO default
        logging.set_verbosity(logging.WARNING)
    config = CONFIG.value
    try:
        validate(config)
    except ConfigError as error:
        fail(str(error))
    return config
