"""S0: WikiArt artist classification by fine-tuning an ImageNet ResNet50 (Jeju National Univ., 2023).

Recipe (../shared/SEEDS.md, S0): the 25 artists with most works; torchvision ResNet50 with
ImageNet weights; class-weighted cross-entropy against the long tail; Albumentations resize,
flips, rotation, brightness/contrast and CLAHE (preset 's0'), plus CutMix; SGD lr 0.001,
momentum 0.9; StepLR(10 epochs, 0.5); the best epoch by validation accuracy is kept.
Reference: no freeze + 2 FC layers = 84.98 % accuracy (AlexNet-based CaffeNet: 81.94 %).

Variants (comma-separated): freeze=none|conv1|conv1-2|conv1-3 (Scenario 1: conv1 = stem,
conv2..conv5 = layer1..layer4 = stage1..stage4), fc=1|2|3 (Scenario 2: 2048 -> 25;
2048 -> 1024 -> 25; 2048 -> 1024 -> 512 -> 25), folder (read an image folder instead of the
ArtGAN split files), smoke.

Data: WikiArt in the ArtGAN layout (data/wikiart/ with Artist/ class list and split files:
--config.data.root, .class_file, .train_split, .val_split), or with `folder` one subfolder per
artist under --config.data.root. Weights: torchvision's ResNet50 ImageNet file, converted once:
    python -m artjax.weights convert --arch resnet50 --source torchvision \\
        --input resnet50-11ad3fa6.pth --output weights/resnet50_imagenet
"""

from artjax.config import apply_smoke, defaults, parse_variant

FREEZE = {"none": (), "conv1": ("stem",), "conv1-2": ("stem", "stage1"), "conv1-3": ("stem", "stage1", "stage2")}


def get_config(arg: str | None = None):
    variant = parse_variant(arg, flags=("smoke", "folder"), choices={"freeze": tuple(FREEZE), "fc": ("1", "2", "3")})
    config = defaults()
    config.data.source = "folder" if variant.get("folder") else "wikiart"
    config.data.root = "data/wikiart"
    if not variant.get("folder"):
        config.data.class_file = "data/wikiart/artist_class.txt"
        config.data.train_split = "data/wikiart/artist_train.csv"
        config.data.val_split = "data/wikiart/artist_val.csv"
    config.data.image_size = 224
    config.data.augment = "s0"
    config.model.name = "resnet50"
    config.model.num_classes = 25
    config.model.weights = "weights/resnet50_imagenet"
    config.model.head.kind = "mlp"
    config.model.head.layers = int(variant.get("fc", "2"))
    config.train.freeze = FREEZE[variant.get("freeze", "none")]
    config.train.frozen_bn = "pytorch"  # S0 froze with requires_grad=False: BN statistics still move
    config.train.epochs = 50
    config.train.batch_size = 32
    config.loss.class_weighting = "inverse"
    config.mix.prob = 0.5
    config.mix.cutmix_alpha = 1.0
    config.optimizer.name = "sgd"
    config.optimizer.learning_rate = 0.001
    config.optimizer.momentum = 0.9
    config.schedule.name = "step"
    config.schedule.step_size = 10
    config.schedule.gamma = 0.5
    config.checkpoint.best_metric = "accuracy"
    if variant.get("smoke"):
        apply_smoke(config, image_size=32)
    return config
