"""S4: K-fashion style classification (Resort / Retro / Sporty) with classic CNNs trained from scratch.

7,200 training images (doubled by flips and +-30 deg rotations: preset 's4' applies them on the
fly), 1,800 validation images; every model trained 100 epochs, the best epoch kept; reports list
per-class precision / recall / F1 (the run's report page). Variants and the project's best
validation accuracies:
- alexnet (AlexNet + BatchNorm at 227 px, dropout 0.8, L2 1e-3, lr 1e-4, batch 128): 75.00
  (dropout 0.6 / L2 1e-4: 74.17; dropout 0.8 / L2 1e-4: 74.67) - 58.3 M parameters
- vgg8, vgg10 (lr 1e-4, batch 128): 63.44, 71.28. The project's VGGs had 8 and 10 conv layers
  and 0.30 M / 7.6 M parameters, layouts not published; artjax uses torchvision's smallest
  VGGs with BatchNorm (vgg11_bn, vgg13_bn) as the nearest published architectures.
- googlenet (AdamW lr 5e-4, weight decay 5e-3, dropout 0.4, batch 64; the chosen model): 73.61
- resnet34 (lr 1e-4, L2 1e-4): 60.78
- densenet (lr 1e-4, L2 1e-4, batch 64): 74.22; the project's DenseNet had 1.0 M parameters,
  artjax uses densenet121 (7 M), the smallest published DenseNet.
Optimiser for all but GoogLeNet: Adam with L2 weight decay (the project compares Adam + L2 with
AdamW). Plus `smoke`.

Data: an image folder with one subfolder per style (data/kfashion/train, data/kfashion/val).
"""

from artjax.config import apply_smoke, defaults, parse_variant

MODELS = {  # variant: (model, image size, batch, optimiser, lr, weight decay, head dropout)
    "alexnet": ("alexnet_bn", 227, 128, "adam", 1e-4, 1e-3, 0.8),
    "vgg8": ("vgg11_bn", 224, 128, "adam", 1e-4, 0.0, 0.5),
    "vgg10": ("vgg13_bn", 224, 128, "adam", 1e-4, 0.0, 0.5),
    "googlenet": ("googlenet", 224, 64, "adamw", 5e-4, 5e-3, 0.4),
    "resnet34": ("resnet34", 224, 128, "adam", 1e-4, 1e-4, 0.0),
    "densenet": ("densenet121", 224, 64, "adam", 1e-4, 1e-4, 0.0),
}
HEADS = {"alexnet": "alexnet_classifier", "vgg8": "vgg_classifier", "vgg10": "vgg_classifier"}


def get_config(arg: str | None = None):
    variant = parse_variant(arg, flags=("smoke", *MODELS))
    name = next((m for m in MODELS if variant.get(m)), "googlenet")
    model, size, batch, optimizer, lr, weight_decay, dropout = MODELS[name]
    config = defaults()
    config.data.source = "folder"
    config.data.root = "data/kfashion/train"
    config.data.val_root = "data/kfashion/val"
    config.data.image_size = size
    config.data.augment = "s4"
    config.model.name = model
    config.model.num_classes = 3
    config.model.head.kind = HEADS.get(name, "linear")
    config.model.head.dropout = dropout
    config.train.epochs = 100
    config.train.batch_size = batch
    config.optimizer.name = optimizer
    config.optimizer.learning_rate = lr
    config.optimizer.weight_decay = weight_decay
    config.checkpoint.best_metric = "accuracy"
    if variant.get("smoke"):
        apply_smoke(config, image_size=100 if name == "alexnet" else 32, num_classes=3)
    return config
