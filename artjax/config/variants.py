"""Parsing the `:variant` part of `--config experiments/x.py:variant`.

A variant is a comma-separated list of flags and key=value pairs, e.g. `freeze=conv1,smoke`.
Each experiment declares what it accepts, so a misspelt variant fails with the valid choices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from artjax.config.validate import ConfigError, suggestion


def parse_variant(arg: str | None, *, flags: Sequence[str] = (),
                  choices: Mapping[str, Sequence[str]] | None = None) -> dict[str, str | bool]:
    """{'smoke': True, 'freeze': 'conv1'} from 'freeze=conv1,smoke', checked against the allowed."""
    choices = dict(choices or {})
    parsed: dict[str, str | bool] = {}
    for part in filter(None, (arg or "").split(",")):
        name, has_value, value = part.partition("=")
        if has_value:
            if name not in choices:
                raise ConfigError("config", f"unknown variant key '{name}'{suggestion(name, choices)}; "
                                            f"known: {', '.join(choices) or 'none'}")
            if value not in choices[name]:
                raise ConfigError("config", f"variant {name}={value!r} is not one of {', '.join(choices[name])}")
            parsed[name] = value
        elif name in flags:
            parsed[name] = True
        else:
            known = [*flags, *(f"{k}=..." for k in choices)]
            raise ConfigError("config", f"unknown variant '{name}'{suggestion(name, flags)}; "
                                        f"known: {', '.join(known) or 'none'}")
    return parsed
