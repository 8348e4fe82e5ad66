"""Load a campaign config from YAML and turn every problem into one clear message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from optloop.config.models import CampaignConfig
from optloop.exceptions import ConfigError, format_validation_error

__all__ = ["config_from_dict", "load_config"]


def config_from_dict(data: Any, source: str | None = None) -> CampaignConfig:
    """Validate plain data as a campaign config.

    Raises:
        ConfigError: listing each problem as ``field.path: message (got value)``.
    """
    if not isinstance(data, dict):
        raise ConfigError(
            [f"<root>: a config is a mapping of keys to values, got {type(data).__name__}"],
            source,
        )
    try:
        return CampaignConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc), source) from None


def load_config(path: str | Path) -> CampaignConfig:
    """Read and validate a campaign config from a YAML file.

    Raises:
        ConfigError: when the file is missing, unreadable, not UTF-8 text, not YAML, or
            does not validate.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError([f"file not found: {p}"], str(p))
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [
                f"not a text file: byte {exc.object[exc.start]:#04x} at offset {exc.start} is "
                "not UTF-8 (a config is a UTF-8 YAML text file)"
            ],
            str(p),
        ) from None
    except OSError as exc:
        raise ConfigError([f"cannot read the file: {exc.strerror or exc}"], str(p)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", exc)
        raise ConfigError([f"not valid YAML{where}: {problem}"], str(p)) from None
    return config_from_dict(data, str(p))
