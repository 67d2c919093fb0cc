"""Training on a synthetic image store: reproducibility, checkpoints, initialisation and freezing."""

from __future__ import annotations

import json

import pytest
import torch

from kneeviewer.errors import InputError
from kneeviewer.learning.models import build_resnet, freeze_layers
from kneeviewer.learning.presets import preset
from kneeviewer.learning.training import load_model, train_model

TINY = preset("fast").with_overrides(image_px=32, max_epochs=2, batch_size=16, oa_max_epochs=1, threads=1)


def test_training_bit_reproducible(synthetic_cohort, tmp_path):
    train_model(synthetic_cohort, "femur", "thickness", TINY, tmp_path / "a")
    train_model(synthetic_cohort, "femur", "thickness", TINY, tmp_path / "b")
    first = torch.load(tmp_path / "a/model.pt", weights_only=True)
    second = torch.load(tmp_path / "b/model.pt", weights_only=True)
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name


def test_training_other_seed_differs(synthetic_cohort, tmp_path):
    train_model(synthetic_cohort, "femur", "thickness", TINY, tmp_path / "a")
    train_model(synthetic_cohort, "femur", "thickness", TINY.with_overrides(seed=1), tmp_path / "b")
    first = torch.load(tmp_path / "a/model.pt", weights_only=True)
    second = torch.load(tmp_path / "b/model.pt", weights_only=True)
    assert not torch.equal(first["fc.weight"], second["fc.weight"])


def test_training_checkpoint_json(synthetic_cohort, tmp_path):
    train_model(synthetic_cohort, "tibia", "all", TINY, tmp_path / "model")
    summary = json.loads((tmp_path / "model/model.json").read_text())
    assert summary["bone"] == "tibia"
    assert summary["strategy"] == "all"
    assert summary["config"]["image_px"] == 32
    assert len(summary["history"]) == 2
    assert 1 <= summary["best_epoch"] <= 2
    assert summary["pos_weight"] > 0
    loaded = load_model(tmp_path / "model")
    assert loaded.name == "tibia_all"


def test_training_oa_pretraining(synthetic_cohort, tmp_path):
    train_model(synthetic_cohort, "patella", "shape", TINY.with_overrides(init="oa", freeze="first_two_layers"), tmp_path / "oa")
    summary = json.loads((tmp_path / "oa/model.json").read_text())
    assert len(summary["oa_pretraining"]["history"]) == 1
    assert summary["config"]["freeze"] == "first_two_layers"


def test_imagenet_without_weights_file():
    with pytest.raises(InputError, match="--weights"):
        build_resnet(18, "imagenet", None)


def test_imagenet_missing_weights_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        build_resnet(18, "imagenet", tmp_path / "absent.pth")


def test_imagenet_local_weights_file(tmp_path):
    from torchvision.models import resnet18

    torch.manual_seed(0)
    reference = resnet18(weights=None)
    torch.save(reference.state_dict(), tmp_path / "resnet18.pth")
    model = build_resnet(18, "imagenet", tmp_path / "resnet18.pth")
    assert torch.equal(model.conv1.weight, reference.conv1.weight)
    assert model.fc.out_features == 1


@pytest.mark.parametrize(
    ("freeze", "frozen", "trainable"),
    [
        ("none", [], ["conv1", "layer1", "fc"]),
        ("first_layer", ["conv1", "bn1"], ["layer1", "fc"]),
        ("first_two_layers", ["conv1", "layer1"], ["layer2", "fc"]),
        ("all", ["conv1", "layer4"], ["fc"]),
    ],
)
def test_freeze_variants(freeze, frozen, trainable):
    model = build_resnet(18)
    freeze_layers(model, freeze)
    for name in frozen:
        assert not any(p.requires_grad for p in getattr(model, name).parameters()), name
    for name in trainable:
        assert all(p.requires_grad for p in getattr(model, name).parameters()), name


def test_unknown_preset():
    with pytest.raises(InputError, match="fast"):
        preset("slow")


def test_train_cli_missing_weights(synthetic_cohort, tmp_path, capsys):
    from kneeviewer.cli.main import main

    status = main(["train", "--cohort", str(synthetic_cohort), "--bone", "femur", "--strategy", "thickness",
                   "--init", "imagenet", "--weights", str(tmp_path / "absent.pth"), "--out", str(tmp_path / "m")])  # fmt: skip
    assert status == 2
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
