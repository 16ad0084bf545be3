"""Typed YAML configs with dotted overrides, the train presets, and config errors in the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from spoofscope.cli import main
from spoofscope.config_io import (
    ConfigError,
    apply_overrides,
    from_dict,
    load_config,
    parse_override,
    save_config,
    to_dict,
)
from spoofscope.models import build_model, list_models
from spoofscope.train_config import TrainConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@dataclass
class Inner:
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    name: Literal["adam", "adamw"] = "adam"


@dataclass
class Outer:
    inner: Inner = field(default_factory=Inner)
    steps: int | None = None
    flag: bool = False
    free: dict[str, Any] = field(default_factory=dict)
    weights: Literal["auto", "none"] | list[float] = "auto"


def test_parse_override_reads_yaml_scalars() -> None:
    assert parse_override("a.b=true") == (["a", "b"], True)
    assert parse_override("a=null") == (["a"], None)
    assert parse_override("a=[0.1, 0.9]") == (["a"], [0.1, 0.9])
    assert parse_override("a=3e-4") == (["a"], "3e-4")  # YAML 1.1: coerced to float later
    with pytest.raises(ConfigError, match="key.subkey=value"):
        parse_override("no-equals-sign")
    with pytest.raises(ConfigError, match="key.subkey=value"):
        parse_override("a..b=1")


def test_overrides_nested_and_typed() -> None:
    data = apply_overrides({"steps": 3}, ["inner.lr=3e-4", "flag=true", "free.x.y=5"])
    cfg = from_dict(Outer, data)
    assert cfg.inner.lr == pytest.approx(3e-4) and isinstance(cfg.inner.lr, float)
    assert cfg.steps == 3 and cfg.flag is True
    assert cfg.free == {"x": {"y": 5}}
    assert from_dict(Outer, {"inner": {"betas": [0.5, 0.6]}}).inner.betas == (0.5, 0.6)
    assert from_dict(Outer, {"weights": [0.1, 0.9]}).weights == [0.1, 0.9]
    assert from_dict(Outer, {"weights": "none"}).weights == "none"
    assert from_dict(Outer, {"steps": None}).steps is None


def test_unknown_keys_name_the_valid_keys() -> None:
    with pytest.raises(ConfigError) as top:
        from_dict(Outer, {"stepz": 1})
    assert "stepz" in str(top.value) and "valid keys: flag, free, inner, steps, weights" in str(
        top.value
    )
    with pytest.raises(ConfigError) as nested:
        from_dict(Outer, apply_overrides({}, ["inner.lrr=1"]))
    assert "inner.lrr" in str(nested.value) and "valid keys: betas, lr, name" in str(nested.value)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"steps": "many"}, "steps: expected"),
        ({"flag": 1}, "flag: expected bool"),
        ({"inner": {"name": "sgd"}}, "'adam' | 'adamw'"),
        ({"inner": {"betas": [0.9]}}, "inner.betas"),
        ({"inner": 3}, "expected a mapping"),
        ({"weights": "auto-ish"}, "weights: expected"),
    ],
)
def test_wrong_types_are_named(data: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=None) as err:
        from_dict(Outer, data)
    assert needle in str(err.value)


def test_override_into_a_value_is_an_error() -> None:
    with pytest.raises(ConfigError, match="steps is a value"):
        apply_overrides({"steps": 3}, ["steps.x=1"])


def test_save_load_round_trip(tmp_path: Path) -> None:
    cfg = load_config(
        TrainConfig,
        None,
        ["model.name=lcnn", "optim.lr=3e-4", "loss.class_weights=[0.1, 0.9]", "freeze=[cnn]"],
    )
    path = save_config(cfg, tmp_path / "c.yaml")
    again = load_config(TrainConfig, path)
    assert again == cfg
    assert to_dict(again)["optim"]["lr"] == pytest.approx(3e-4)


def test_train_config_validation_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"data.*batch_size must be >= 1"):
        load_config(TrainConfig, None, ["data.batch_size=0"])
    with pytest.raises(ConfigError, match="two positive numbers"):
        load_config(TrainConfig, None, ["loss.class_weights=[1, 2, 3]"])
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(TrainConfig, "/nonexistent/x.yaml")


def test_every_registered_model_has_a_preset() -> None:
    presets = {p.stem: p for p in CONFIGS.glob("*.yaml")}
    assert set(list_models()) <= set(presets), sorted(set(list_models()) - set(presets))
    for name in list_models():
        cfg = load_config(TrainConfig, presets[name])
        assert cfg.model.name == name
        build_model(name, **cfg.model.overrides)  # overrides are valid for the model


def test_cli_wrong_key_exits_2_with_valid_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  name: lcnn\noptim:\n  lr: 0.001\n")
    assert main(["train", str(path), "--set", "optim.lrr=1", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "optim.lrr" in err and "valid keys:" in err and "lr" in err
    assert "Traceback" not in err

    path.write_text("model:\n  name: lcnn\nepochz: 3\n")
    assert main(["train", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "epochz" in err and "epochs" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_cli_print_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  name: lcnn\n")
    assert main(["train", str(path), "--set", "optim.lr=3e-4", "--print-config"]) == 0
    out = capsys.readouterr().out
    assert "lr: 0.0003" in out and "name: lcnn" in out


def test_diff_configs_lists_changed_dotted_keys() -> None:
    from spoofscope.config_io import diff_configs

    old = {"optim": {"lr": 0.1, "betas": [0.9, 0.99]}, "epochs": 2, "free": {}}
    new = {"optim": {"lr": 0.2, "betas": [0.9, 0.99]}, "epochs": 2, "free": {"x": 1}}
    assert diff_configs(old, new) == ["free", "free.x", "optim.lr"]
    assert diff_configs(old, old) == []
