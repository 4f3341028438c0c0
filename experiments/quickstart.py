"""Quickstart: a small ResNet on the built-in SYNTHETIC painters (no download).

6 synthetic artists (chance level 16.7 %), 1,200 training and 300 validation paintings drawn
on the fly, 64 px. On a 2-core CPU it trains in a few minutes and passes 85 % validation
accuracy. Variant `smoke` is a seconds-long version for tests and CI.

    python -m artjax.main --config experiments/quickstart.py --workdir runs/quickstart
"""

from artjax.config import defaults, parse_variant


def get_config(arg: str | None = None):
    variant = parse_variant(arg, flags=("smoke",))
    config = defaults()
    config.data.source = "painters"
    config.data.image_size = 64
    config.data.augment = "flip"
    config.model.name = "resnet_mini"
    config.train.epochs = 8
    config.train.batch_size = 32
    config.optimizer.name = "sgd"
    config.optimizer.learning_rate = 0.05
    config.optimizer.momentum = 0.9
    config.optimizer.weight_decay = 5e-4
    config.schedule.name = "cosine"
    config.schedule.warmup_epochs = 0.5
    config.checkpoint.best_metric = "accuracy"
    if variant.get("smoke"):
        config.data.image_size = 32
        config.data.painters.num_train = 96
        config.data.painters.num_val = 48
        config.data.painters.min_size = 40
        config.data.painters.max_size = 64
        config.train.epochs = 2
        config.train.batch_size = 16
    return config
