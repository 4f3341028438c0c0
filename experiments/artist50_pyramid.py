"""S1: multi-scale pyramid weighted pooling (Jangtjik, Yeh & Hua, ACM MM 2016) on the 50-artist data.

Each painting is seen whole, as a 2x2 grid and as a 5x5 grid (30 crops, each resized to the
input size); one shared EfficientNet-B3 (Dropout + Linear on its ImageNet logits) scores every
crop; per level the crop probabilities are averaged and the levels combined. Variants:
soft (default; weights 25 : 4 : 1 as the team's code), hard (weighted crop votes; trained with
per-level losses, since votes carry no gradient), adaptive (softmax-normalised level weights
learned end to end), and smoke. Paper figures (top-1 F): baseline 65.7 %, hard 71.2 %,
soft 71.4 %, adaptive 71.7 %.

Memory: 30 crops per painting multiply activation memory by 30; batch 4 paintings = 120 crops.
`model.pyramid.chunk_size` runs the backbone on that many crops at a time.
Data and weights as experiments/artist50.py.
"""

from artjax.config import apply_smoke, defaults, parse_variant


def get_config(arg: str | None = None):
    variant = parse_variant(arg, flags=("smoke", "soft", "hard", "adaptive"))
    rule = next((r for r in ("hard", "adaptive") if variant.get(r)), "soft")
    config = defaults()
    config.data.source = "csv"
    config.data.root = "data/artist50"
    config.data.csv = "data/artist50/train.csv"
    config.data.image_size = 224
    config.data.decode_short_side = 1120  # the 5x5 level needs 5 x 224 px
    config.model.name = "efficientnet_b3"
    config.model.weights = "weights/efficientnet_b3_imagenet"
    config.model.num_classes = 50
    config.model.head.kind = "logits"
    config.model.head.dropout = 0.3
    config.model.pyramid.enabled = True
    config.model.pyramid.levels = (1, 2, 5)
    config.model.pyramid.rule = rule
    config.model.pyramid.level_loss_weight = 1.0 if rule == "hard" else 0.0
    config.train.batch_size = 4
    config.train.epochs = 30
    config.optimizer.name = "adam"
    config.optimizer.learning_rate = 3e-4
    config.checkpoint.best_metric = "macro_f1"
    if variant.get("smoke"):
        apply_smoke(config, image_size=32)
        config.model.pyramid.levels = (1, 2)
        config.train.batch_size = 4
    return config
