"""The config schema, experiment loading, variants and validation."""

import pathlib

import pytest

from artjax.config import ConfigError, check_key, defaults, load_config, parse_variant, validate

REQUIRED_KEYS = ("seed", "data.source", "data.root", "data.image_size", "model.name", "model.num_classes",
                 "model.weights", "train.epochs", "train.batch_size", "train.freeze", "optimizer.name",
                 "optimizer.learning_rate", "schedule.name", "eval.every_epochs")


def test_schema_holds_the_contract_keys():
    config = defaults()
    for key in REQUIRED_KEYS:
        check_key(config, key)


def test_schema_is_locked_against_typos():
    config = defaults()
    with pytest.raises(AttributeError, match="learning_rate"):
        config.optimizer.lerning_rate = 0.1


def test_unknown_key_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"did you mean 'optimizer.learning_rate'"):
        check_key(defaults(), "optimizer.lerning_rate")


@pytest.mark.parametrize("key, value, match", [
    ("optimizer.name", "sgdd", "optimizer.name"),
    ("train.epochs", 0, "train.epochs"),
    ("data.source", "folder", "data.root"),
    ("model.name", "resnet5O", "did you mean"),
    ("checkpoint.select", "latest", "checkpoint.select"),
])
def test_validate_names_the_key(key, value, match):
    config = defaults()
    section, name = key.split(".")
    config[section][name] = value
    with pytest.raises(ConfigError, match=match):
        validate(config)


def test_defaults_validate():
    validate(defaults())


def test_variants_parse_and_reject():
    assert parse_variant("freeze=conv1,smoke", flags=("smoke",), choices={"freeze": ("none", "conv1")}) == {
        "freeze": "conv1", "smoke": True}
    assert parse_variant(None, flags=("smoke",)) == {}
    with pytest.raises(ConfigError, match="smoke"):
        parse_variant("smok", flags=("smoke",))
    with pytest.raises(ConfigError, match="not one of"):
        parse_variant("freeze=conv9", choices={"freeze": ("none", "conv1")})


def test_load_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="no experiment file"):
        load_config(str(tmp_path / "missing.py"))
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(ConfigError, match="get_config"):
        load_config(str(empty))


def test_every_experiment_loads_and_validates():
    experiments = sorted((pathlib.Path(__file__).parents[2] / "experiments").glob("*.py"))
    assert experiments
    for path in experiments:
        for variant in ("", ":smoke"):
            validate(load_config(f"{path}{variant}"))


def test_command_line_overrides_are_read_as_the_fields_type():
    from artjax.config import apply_override

    config = defaults()
    for key, text, value in [("train.epochs", "3", 3), ("optimizer.learning_rate", "5", 5.0),
                             ("data.strict", "True", True), ("train.freeze", "('stem', 'stage1')", ("stem", "stage1")),
                             ("model.name", "resnet18", "resnet18")]:
        apply_override(config, key, text)
        assert config[key.split(".")[0]][key.split(".")[1]] == value
    with pytest.raises(ConfigError, match="'train.epochs': cannot read '1.5' as a int"):
        apply_override(config, "train.epochs", "1.5")
    with pytest.raises(ConfigError, match="unknown key .*did you mean 'train.epochs'"):
        apply_override(config, "train.epoch", "2")


def test_per_level_backbones_need_distinct_levels():
    config = load_config("experiments/artist50_pyramid.py:paper")
    config.model.pyramid.levels = (1, 2, 2)
    with pytest.raises(ConfigError, match=r"model.pyramid.levels.*distinct"):
        validate(config)
