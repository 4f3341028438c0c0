"""S1: the 50-artist competition (a Korean AI competition, 301 teams), scored by macro-F1.

The test images are random crops of 1/4 of a painting, so training resizes to 2x and crops 1x
(preset 's1_b3': Resize(2s) -> RandomCrop(s) -> CoarseDropout(4 holes of 64 px at s = 150,
p 0.5) -> OneOf(MotionBlur, OpticalDistortion, GaussNoise; p 0.3) -> vertical and horizontal
flips), validation scores the four quarter crops of each painting as samples (eval.view =
'quadrants'; voted_* metrics score whole paintings), and the kept checkpoint is the best by
macro-F1. Default: torchvision EfficientNet-B3 (ImageNet weights) with Dropout(0.3) +
Linear(1000 -> 50) on top of its 1000 ImageNet logits, 150 px (the seed's 300 = 2 x 150), 80
epochs (reference macro-F1 0.780; 0.764 / 0.769 / 0.778 / 0.780 / 0.778 at 30 / 40 / 60 / 80 /
110 epochs). The slides give no optimiser for B3: Adam lr 3e-4, batch 32 is our assumption.

Variant `v2m`: EfficientNetV2-M, Dropout(0.5) + Linear head, Adam lr 0.001, batch 16,
ReduceLROnPlateau(mode max, factor 0.1, patience 1) on validation macro-F1, preset 's1_v2',
20 epochs (overfitted in the seed: valid F1 0.68-0.74, test 0.31-0.48). Variant `smoke`.

Data: the competition's train.csv (columns img_path, artist) under data/artist50
(--config.data.csv, --config.data.root). Weights: convert torchvision's efficientnet_b3 /
efficientnet_v2_m ImageNet files with `python -m artjax.weights convert`.
"""

from artjax.config import apply_smoke, defaults, parse_variant


def get_config(arg: str | None = None):
    variant = parse_variant(arg, flags=("smoke", "v2m"))
    config = defaults()
    config.data.source = "csv"
    config.data.root = "data/artist50"
    config.data.csv = "data/artist50/train.csv"
    config.data.path_column = "img_path"
    config.data.label_column = "artist"
    config.data.val_fraction = 0.2
    config.data.image_size = 150
    config.data.decode_short_side = 300  # decode big JPEGs at >= 2 x image_size only
    config.eval.view = "quadrants"
    config.model.num_classes = 50
    config.model.head.kind = "logits"
    config.optimizer.name = "adam"
    config.checkpoint.best_metric = "macro_f1"
    if variant.get("v2m"):
        config.data.augment = "s1_v2"
        config.model.name = "efficientnet_v2_m"
        config.model.weights = "weights/efficientnet_v2_m_imagenet"
        config.model.head.kind = "linear"
        config.model.head.dropout = 0.5
        config.optimizer.learning_rate = 0.001
        config.train.batch_size = 16
        config.train.epochs = 20
        config.schedule.name = "plateau"
        config.schedule.metric = "macro_f1"
        config.schedule.mode = "max"
        config.schedule.factor = 0.1
        config.schedule.patience = 1
    else:
        config.data.augment = "s1_b3"
        config.model.name = "efficientnet_b3"
        config.model.weights = "weights/efficientnet_b3_imagenet"
        config.model.head.dropout = 0.3
        config.optimizer.learning_rate = 3e-4
        config.train.batch_size = 32
        config.train.epochs = 80
        config.schedule.name = "constant"
    if variant.get("smoke"):
        apply_smoke(config, image_size=32)
    return config
