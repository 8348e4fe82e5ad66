"""The ``lives`` config block: defaults, limits and the predict/early-stopping clash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from optloop.config import config_from_dict
from optloop.exceptions import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def base(**lives: Any) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "configs" / "quick.yaml").read_text())
    if lives:
        data["lives"] = lives
    return data


def test_defaults_are_measure_mode() -> None:
    lv = config_from_dict(base()).lives
    assert lv.mode == "measure"
    assert (lv.min_cycles, lv.review_every_cycles, lv.interval) == (30, 25, 0.9)
    assert (lv.min_training_cells, lv.calibration) == (6, "conformal")
    assert lv.min_value_per_channel_day == pytest.approx(0.002)


def test_predict_mode_is_accepted() -> None:
    lv = config_from_dict(base(mode="predict", min_cycles=12, calibration="none")).lives
    assert lv.mode == "predict" and lv.min_cycles == 12 and lv.calibration == "none"


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("mode", "guess", "mode"),
        ("min_cycles", 3, "min_cycles"),
        ("review_every_cycles", 0, "review_every_cycles"),
        ("interval", 1.0, "interval"),
        ("min_training_cells", 2, "min_training_cells"),
        ("calibration", "isotonic", "calibration"),
        ("min_value_per_channel_day", -0.1, "min_value_per_channel_day"),
        ("stop_rule", "fixed", "stop_rule"),
    ],
)
def test_bad_lives_values_name_the_field(field: str, value: Any, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict(base(**{field: value}))
    assert fragment in str(err.value) and "lives" in str(err.value)


def test_predict_with_early_stopping_is_refused() -> None:
    data = base(mode="predict")
    data["early_stopping"] = {"enabled": True}
    with pytest.raises(ConfigError, match="supersede early stopping"):
        config_from_dict(data)
    data["lives"] = {"mode": "measure"}
    assert config_from_dict(data).early_stopping.enabled


def test_predict_needs_cycle_life_in_the_campaign() -> None:
    data = base(mode="predict")
    data["objectives"] = [
        {"name": "areal_capacity_mAh_cm2", "direction": "maximize", "reference": 0.5}
    ]
    with pytest.raises(ConfigError, match="lives.mode = 'predict' predicts cycle_life"):
        config_from_dict(data)


def test_validate_shows_predicted_lives(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from optloop.cli import cli

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(base(mode="predict", min_cycles=20)))
    out = CliRunner().invoke(cli, ["validate", str(path)])
    assert out.exit_code == 0, out.output
    assert (
        "lives predicted: first review at 20 cycles, then every 25; 90% intervals (conformal); "
        "stop below 0.002 of the hypervolume per channel-day"
    ) in out.output
