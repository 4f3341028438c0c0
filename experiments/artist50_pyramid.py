"""S1: multi-scale pyramid weighted pooling (Jangtjik, Yeh & Hua, ACM MM 2016) on the 50-artist data.

Two readings of the source, selected by the `paper` flag:
- S1's team code (the default): each painting is seen whole, as a 2x2 grid and as a 5x5 grid
  (1 + 4 + 25 = 30 crops, each resized to the input size), all through one shared
  EfficientNet-B3 (Dropout + Linear on its ImageNet logits); combined "25 * level1 + 4 * level2
  + 1 * level3" (weights 25 : 4 : 1 / 30).
- `paper`: the paper's 1 + 4 + 16 crops ("21x more features", levels 1, 2, 4) and a CNN per
  level (`model.pyramid.per_level_backbone`: three copies of the backbone, each starting from
  the same ImageNet weights, so three times the parameters).
Per level the crop probabilities are averaged and the levels combined by the rule: `soft`
(default), `hard`, `adaptive`. The team code's `nn.Softmax(dim=0)` normalises over the crops,
which turns its level-2 and level-3 terms into constants (1/4 and 1/25 for every class);
artjax normalises over the classes, as the combination intends: a deliberate correction.

Paper figures (Table 1; hard / soft / adaptive, baseline 65.7 % / 83.59 %): top-1 F 71.2 /
71.4 / 71.7 %, top-2 F 84.79 / 87.65 / 88.09 %. Its F is the harmonic mean of its macro
precision and recall (every row satisfies it, e.g. 2 * 70.83 * 71.92 / (70.83 + 71.92) =
71.37); artjax logs top2_macro_precision, top2_macro_recall and top2_f by that reading
(artjax.eval.metrics) and its own macro_f1 (the mean of per-class F1), which is not the
paper's top-1 F.

Assumptions (the seed gives the rule names and the team code's soft weights only):
- `hard`: every crop votes for its argmax class; a level's score is its vote shares, levels
  combined with the soft weights. Votes carry no gradient, so it trains on the per-level
  cross-entropies (`level_loss_weight` 1.0, an artjax value).
- `soft`: fixed weights; the team code's 25 : 4 : 1 for levels (1, 2, 5), and by the same rule
  (the crop counts reversed) 16 : 4 : 1 for the paper's levels (1, 2, 4): the paper's weights
  are not in the seed.
- `adaptive`: weights softmax(a), a learned end to end from log of the soft weights.
- The paper's backbone, input size, optimiser and epochs are not in the seed: the paper
  variant keeps the team code's EfficientNet-B3 at 224 px, Adam 3e-4, batch 4, 30 epochs.
- Per-level backbones are three copies of one initialisation (the seed: "a CNN per level",
  not how each is initialised).

Memory: 30 crops per painting multiply activation memory by 30; batch 4 paintings = 120 crops.
`model.pyramid.chunk_size` runs the backbone on that many crops at a time.
Data and weights as experiments/artist50.py.
"""

from artjax.config import apply_smoke, defaults, parse_variant


def get_config(arg: str | None = None):
    variant = parse_variant(arg, flags=("smoke", "soft", "hard", "adaptive", "paper"))
    rule = next((r for r in ("hard", "adaptive") if variant.get(r)), "soft")
    paper = bool(variant.get("paper"))
    config = defaults()
    config.data.source = "csv"
    config.data.root = "data/artist50"
    config.data.csv = "data/artist50/train.csv"
    config.data.image_size = 224
    config.data.decode_short_side = (4 if paper else 5) * 224  # the finest level needs n x 224 px
    config.model.name = "efficientnet_b3"
    config.model.weights = "weights/efficientnet_b3_imagenet"
    config.model.num_classes = 50
    config.model.head.kind = "logits"
    config.model.head.dropout = 0.3
    config.model.pyramid.enabled = True
    config.model.pyramid.levels = (1, 2, 4) if paper else (1, 2, 5)
    config.model.pyramid.per_level_backbone = paper
    config.model.pyramid.rule = rule
    config.model.pyramid.level_loss_weight = 1.0 if rule == "hard" else 0.0
    config.train.batch_size = 4
    config.train.epochs = 30
    config.optimizer.name = "adam"
    config.optimizer.learning_rate = 3e-4
    config.checkpoint.best_metric = "macro_f1"
    if variant.get("smoke"):
        apply_smoke(config, image_size=32)
        if not paper:  # the paper's three levels stay: its smoke form checks three backbones
            config.model.pyramid.levels = (1, 2)
        config.train.batch_size = 4
    return config
