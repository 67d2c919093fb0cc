"""Training configuration and its named presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from kneeviewer.errors import InputError


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one chronic-pain model.

    Attributes
    ----------
    depth : ResNet depth, 18, 34 or 50.
    image_px : side of the square network input in pixels; the 224 px
        images are downsampled to it (area-weighted).
    batch_size, max_epochs, patience : early stopping stops after
        ``patience`` epochs without a lower validation loss.
    learning_rate : Adam learning rate.
    init : "random", "imagenet" (needs ``weights_file``) or "oa".
    freeze : "none", "first_layer", "first_two_layers" or "all".
    oa_max_epochs : epochs of OA-status pretraining when ``init == "oa"``.
    seed : seeds the initialisation and the batch order.
    weights_file : local ImageNet state dict for ``init == "imagenet"``.
    threads : torch CPU threads during training; 0 keeps torch's default.
        Runs are bit-identical for equal seeds and equal thread counts.
    """

    depth: int = 18
    image_px: int = 112
    batch_size: int = 32
    max_epochs: int = 12
    patience: int = 4
    learning_rate: float = 1e-3
    init: str = "random"
    freeze: str = "none"
    oa_max_epochs: int = 5
    seed: int = 0
    weights_file: str | None = None
    threads: int = 0

    def as_dict(self) -> dict:
        """Return the fields as a JSON-ready dict."""
        return asdict(self)

    def with_overrides(self, **overrides) -> TrainConfig:
        """Return a copy with the given fields replaced; None values are ignored."""
        names = {field.name for field in fields(self)}
        unknown = set(overrides) - names
        if unknown:
            raise InputError(f"Unknown training settings {sorted(unknown)}; expected some of {sorted(names)}.")
        return replace(self, **{key: value for key, value in overrides.items() if value is not None})


#: ``paper``: the study's settings (ResNet-50 at 224 px, batch 300, up to 100
#: epochs, patience 15, learning rate 1e-4, OA-pretrained).
#: ``fast``: ResNet-18 at 112 px for phantom cohorts on a laptop CPU.
#: NOTE: with learning rate 1e-3 its validation loss jumps between epochs, so
#: patience 4 sometimes stops early (test AUC 0.83 on a 300-patient strong cohort).
PRESETS: dict[str, TrainConfig] = {
    "paper": TrainConfig(
        depth=50, image_px=224, batch_size=300, max_epochs=100, patience=15, learning_rate=1e-4, init="oa", oa_max_epochs=100
    ),
    "fast": TrainConfig(),
}


def preset(name: str) -> TrainConfig:
    """Return the named preset or raise :class:`InputError`."""
    if name not in PRESETS:
        raise InputError(f"Unknown preset {name!r}; expected one of {', '.join(PRESETS)}.")
    return PRESETS[name]
