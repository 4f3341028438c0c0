"""S3: cats vs dogs with VGG16 transfer learning (a Keras blog post), three ways.

Input 150 px; augmentation rotation 20 deg, width/height shift 0.1, shear 0.1, zoom 0.1,
horizontal flip (preset 's3'); VGG16 without its top -> Flatten -> Dense 256 ReLU -> Dense 1
sigmoid (head kind 'dense', loss.kind 'sigmoid'); 30 epochs of 100 steps of 20 images.
Variants:
- feature_extraction (default): the whole VGG16 base frozen, Adam (Keras defaults: lr 1e-3).
  Reference validation accuracy 0.90 (a small CNN from scratch: 0.78).
- finetune_block5: block5's three convs (stage5) train too, RMSprop (Keras defaults: lr 1e-3,
  rho 0.9, eps 1e-7, no momentum). Reference validation ~0.93, test 0.934.
- scratch: the same architecture from random weights, everything trained.
- smoke.
Deviation: the blog rescales pixels by 1/255 only; artjax normalises with the weights' own
ImageNet mean/std, which is what torchvision's VGG16 weights expect.

Checkpoint and test set: the blog trains with `model.fit(...)` for 30 epochs and then, "# Test set
evaluation", runs `model.evaluate_generator(test_generator, steps=50)` on the model as the last
epoch left it (no ModelCheckpoint, no restore of a best epoch), and its headline figure is that
test accuracy: "마지막으로 별도의 Test셋을 통해 Evaluation을 진행했다. ... 여기서는 0.934로"
(finally an evaluation on a separate test set ... here 0.934; seed S3). So checkpoint.select =
'last', and data.test_root = data/cats_vs_dogs/test (the blog's `test_dir`, class folders like
train/) is scored once at the end of training (DIR/test_metrics.json, DIR/report/test.html;
again with `python -m artjax.evaluate --workdir DIR`). Assumption: the blog's 50 test steps of 20
images = 1,000 test images; artjax scores every image of the test folder, whatever its size.

Data: an image folder per split with cats/ and dogs/ subfolders (data/cats_vs_dogs/train,
.../validation and .../test), or TFDS cats_vs_dogs (--config.data.source=tfds
--config.data.tfds_name=cats_vs_dogs --config.data.test_root='', which has no test split).
Weights: torchvision's vgg16 ImageNet file, converted with `python -m artjax.weights convert`.
"""

from artjax.config import apply_smoke, defaults, parse_variant

VARIANTS = ("feature_extraction", "finetune_block5", "scratch")


def get_config(arg: str | None = None):
    variant = parse_variant(arg, flags=("smoke", *VARIANTS))
    name = next((v for v in VARIANTS if variant.get(v)), "feature_extraction")
    config = defaults()
    config.data.source = "folder"
    config.data.root = "data/cats_vs_dogs/train"
    config.data.val_root = "data/cats_vs_dogs/validation"
    config.data.test_root = "data/cats_vs_dogs/test"
    config.data.image_size = 150
    config.data.augment = "s3"
    config.model.name = "vgg16"
    config.model.weights = "" if name == "scratch" else "weights/vgg16_imagenet"
    config.model.num_classes = 2
    config.model.head.kind = "dense"
    config.model.head.units = 256
    config.loss.kind = "sigmoid"
    config.train.epochs = 30
    config.train.batch_size = 20
    config.train.frozen_bn = "keras"
    if name == "feature_extraction":
        config.train.freeze = ("stage1", "stage2", "stage3", "stage4", "stage5")
        config.optimizer.name = "adam"
        config.optimizer.learning_rate = 1e-3
        config.optimizer.eps = 1e-7
    elif name == "finetune_block5":
        config.train.freeze = ("stage1", "stage2", "stage3", "stage4")
        config.optimizer.name = "rmsprop"
        config.optimizer.learning_rate = 1e-3
        config.optimizer.rmsprop_decay = 0.9
        config.optimizer.eps = 1e-7
    else:
        config.optimizer.name = "adam"
        config.optimizer.learning_rate = 1e-3
    config.checkpoint.best_metric = "accuracy"
    config.checkpoint.select = "last"  # Keras keeps the model of the last epoch (see above)
    if variant.get("smoke"):
        apply_smoke(config, image_size=32, num_classes=2)
    return config
