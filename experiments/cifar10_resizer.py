"""S2: CIFAR-10 with an ImageNet VGG16, a learnable Resizer (Talebi & Milanfar 2021) and CBAM.

Recipe: 32 px CIFAR images, RandomCrop(32, padding 4) + HorizontalFlip (preset 's2'),
ImageNet normalisation; torchvision VGG16 (ImageNet weights) with its classifier changed to 10
classes (its two 4096-wide layers keep their ImageNet weights, the last Linear is new); SGD lr 0.01 (momentum 0.9: our assumption, the report does not say), batch 128,
300 epochs, lr x0.1 at epochs 100 and 150; the best epoch is kept. With a Resizer, 32 -> 224
learned upscaling runs in front of the backbone (n = 16 filters, r = 1 residual block).

Variants and the report's accuracies: baseline 93.13, cutmix 94.84, resizer 95.68,
resizer_cutmix 96.61, resizer_cbam 96.09, resizer_cbam_cutmix 96.63 (CutMix with p 0.5).
Without a Resizer, images are bilinearly upscaled to 224 on the device as well (the Resizer's
skip path alone), so the baseline sees the same size. Plus `smoke` (Resizer 32 -> 64).

Data: TFDS cifar10 prepared as ArrayRecord (--config.data.tfds_dir), or an .npz with
x_train/y_train/x_test/y_test (--config.data.source=arrays --config.data.arrays=cifar10.npz).
Weights: torchvision's vgg16 ImageNet file, converted with `python -m artjax.weights convert`.
"""

from artjax.config import apply_smoke, defaults, parse_variant

VARIANTS = ("baseline", "cutmix", "resizer", "resizer_cutmix", "resizer_cbam", "resizer_cbam_cutmix")


def get_config(arg: str | None = None):
    variant = parse_variant(arg, flags=("smoke", *VARIANTS))
    name = next((v for v in VARIANTS if variant.get(v)), "resizer_cbam_cutmix")
    config = defaults()
    config.data.source = "tfds"
    config.data.tfds_name = "cifar10"
    config.data.tfds_val_split = "test"
    config.data.image_size = 32
    config.data.augment = "s2"
    config.model.name = "vgg16"
    config.model.weights = "weights/vgg16_imagenet"
    config.model.num_classes = 10
    config.model.head.kind = "vgg_classifier"
    config.model.head.dropout = 0.5
    config.model.resizer.enabled = True
    config.model.resizer.target_size = 224
    config.model.resizer.cbam = "cbam" in name
    # The baseline upscales with the Resizer's skip path only: a frozen, zero-output Resizer.
    config.train.freeze = () if "resizer" in name else ("resizer",)
    config.train.epochs = 300
    config.train.batch_size = 128
    if "cutmix" in name:
        config.mix.prob = 0.5
        config.mix.cutmix_alpha = 1.0
    config.optimizer.name = "sgd"
    config.optimizer.learning_rate = 0.01
    config.optimizer.momentum = 0.9
    config.schedule.name = "multistep"
    config.schedule.milestones = (100, 150)
    config.schedule.gamma = 0.1
    config.checkpoint.best_metric = "accuracy"
    if variant.get("smoke"):
        apply_smoke(config, image_size=32)
        config.model.resizer.target_size = 64
    return config
