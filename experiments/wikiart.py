"""S0: WikiArt artist classification by fine-tuning an ImageNet ResNet50 (Jeju National Univ., 2023).

What the paper states (../shared/seeds/000_*.txt, quoted or translated):
- data: WikiArt, "only the works of the 25 artists with the most works" (133,220 works when they
  collected it); long-tailed: "Vincent van Gogh 1,510 works, Jean-Baptiste-Camille Corot 381" in the
  training set; hence weighted cross-entropy, "passing per-class weights to the weight argument";
- ImageNet ResNet50 (PyTorch 1.9); Albumentations resize, flips, rotation, random brightness and
  contrast, CLAHE; CutMix;
- "In both scenarios we use the same optimiser and loss: nn.CrossEntropyLoss(), optim.SGD(...,
  lr=0.001, momentum=0.9), optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)", and
  "in the fully-connected-layer scenario the StepLR scheduler lowers lr by 0.5 every 10 epochs";
- the best model on the validation set is kept (Fig. 1);
- Scenario 1, fine-tuning range: no freeze / conv1 / conv1-conv2 / conv1-conv3 frozen;
- Scenario 2, FC head: 1, 2 or 3 layers, "every output except the last half its input"
  (2048 -> 25; 2048 -> 1024 -> 25; 2048 -> 1024 -> 512 -> 25), trained with no freeze, "the best
  fine-tuning range"; reference: no freeze + 2 FC = 84.98 % accuracy (CaffeNet of Cetinic et al.
  2018: 81.94 %).

What the text implies, and artjax reads so:
- the freeze scenarios (`freeze=...`) run at a constant lr 0.001: StepLR is named for the FC
  scenario only;
- their head is one FC layer 2048 -> 25 (torchvision's `fc` replaced): the extra FC layers are
  what Scenario 2, "differentiated from the existing research", adds after Scenario 1 was run.
  (Table 1's parameter counts, which would settle it, are an image not in the text.)

ASSUMPTIONS (values the paper does not state; artjax's choices): 50 epochs; batch 32; 224 px;
CutMix on half the batches (mix.prob 0.5) with alpha 1.0; class weights N / (C n_c) (sklearn's
'balanced'; the code listing even shows an unweighted nn.CrossEntropyLoss()); the augmentation
probabilities and ranges (preset 's0', artjax/data/augment.py); "best" = best validation accuracy;
an 80/20 seeded stratified split (data.val_fraction, data.split_seed; the paper's split is not
described); the top 25 counted over the WikiArt copy you have (ArtGAN's tree holds 81,444 works, not
the paper's 133,220, so its top 25 may differ).

Data (default): ArtGAN's `wikiart/` tree at --config.data.root, `<Style>/<artist-slug>_<title>.jpg`;
the artist is the slug, data.top_classes = 25 picks the artists with most works, and the run logs
them with their counts (also DIR/class_selection.json and the report). Weights: torchvision's
ResNet50 ImageNet file, converted once:
    python -m artjax.weights convert --arch resnet50 --source torchvision \\
        --input resnet50-11ad3fa6.pth --output weights/resnet50_imagenet

Variants (comma-separated):
  freeze=none|conv1|conv1-2|conv1-3  Scenario 1 (conv1 = stem, conv2..conv5 = layer1..layer4 =
                                     stage1..stage4): 1 FC, constant lr (see above)
  fc=1|2|3                           Scenario 2: no freeze, N FC layers, StepLR(10, 0.5)
                                     (no variant = fc=2, the headline; with freeze= too: that range
                                     with Scenario 2's head and schedule)
  artgan23                           ArtGAN's official artist split (data/wikiart_csv/artist_class.txt,
                                     artist_train.csv, artist_val.csv as in its wikiart_csv.zip; the
                                     GitHub copies in `WikiArt Dataset/Artist/` read too): 23 artists,
                                     the class count from the data
  metadata                           a metadata CSV (data/wikiart/wikiart.csv: path, artist, style,
                                     genre columns) instead of the tree
  folder                             one image folder per artist under data.root
  smoke                              the same recipe on the synthetic painters, tiny sizes (add
                                     --config.data.source=wikiart --config.data.root=TREE to run it
                                     on a WikiArt tree)
Other tasks: --config.data.task=style (tree, CSV or ArtGAN's Style files) or genre (CSV or Genre files).
"""

from artjax.config import apply_smoke, defaults, parse_variant

FREEZE = {"none": (), "conv1": ("stem",), "conv1-2": ("stem", "stage1"), "conv1-3": ("stem", "stage1", "stage2")}
ARTGAN_CSV = "data/wikiart_csv"


def get_config(arg: str | None = None):
    variant = parse_variant(arg, flags=("smoke", "folder", "artgan23", "metadata"),
                            choices={"freeze": tuple(FREEZE), "fc": ("1", "2", "3")})
    config = defaults()
    config.data.source = "folder" if variant.get("folder") else "wikiart"
    config.data.root = "data/wikiart"
    config.data.task = "artist"
    config.data.top_classes = 0 if variant.get("folder") else 25  # a folder holds the artists to train on
    if variant.get("artgan23"):
        config.data.top_classes = 0  # the split's own 23 artists
        config.data.class_file = f"{ARTGAN_CSV}/artist_class.txt"
        config.data.train_split = f"{ARTGAN_CSV}/artist_train.csv"
        config.data.val_split = f"{ARTGAN_CSV}/artist_val.csv"
    if variant.get("metadata"):
        config.data.csv = "data/wikiart/wikiart.csv"
        config.data.path_column = "path"
    config.data.val_fraction = 0.2  # assumed
    config.data.image_size = 224  # assumed
    config.data.augment = "s0"
    config.model.name = "resnet50"
    config.model.num_classes = 0  # from the data: 25 with top_classes, 23 with artgan23
    config.model.weights = "weights/resnet50_imagenet"
    scenario1 = "freeze" in variant and "fc" not in variant
    config.model.head.kind = "mlp"
    config.model.head.layers = 1 if scenario1 else int(variant.get("fc", "2"))
    config.train.freeze = FREEZE[variant.get("freeze", "none")]
    config.train.frozen_bn = "pytorch"  # S0 froze with requires_grad=False: BN statistics still move
    config.train.epochs = 50  # assumed
    config.train.batch_size = 32  # assumed
    config.loss.class_weighting = "inverse"  # formula assumed
    config.mix.prob = 0.5  # assumed
    config.mix.cutmix_alpha = 1.0  # assumed
    config.optimizer.name = "sgd"
    config.optimizer.learning_rate = 0.001
    config.optimizer.momentum = 0.9
    if not scenario1:
        config.schedule.name = "step"
        config.schedule.step_size = 10
        config.schedule.gamma = 0.5
    config.checkpoint.best_metric = "accuracy"
    if variant.get("smoke"):
        apply_smoke(config, image_size=32)
    return config
