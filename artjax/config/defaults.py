"""The one config schema every experiment shares.

`defaults()` returns a LOCKED ConfigDict holding every key artjax reads, with its default value
and therefore its type. Experiment files start from it and assign fields, so a misspelt key in an
experiment or on the command line fails at once instead of being ignored. Add new keys here, with
a comment, and nowhere else.
"""

from __future__ import annotations

import ml_collections


def defaults() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    # JAX's persistent compilation cache: "auto" = ~/.cache/artjax/jax ($ARTJAX_CACHE_DIR/jax,
    # or JAX_COMPILATION_CACHE_DIR when set), "" = off, or a directory (artjax/runtime.py).
    c.compile_cache = "auto"

    c.data = ml_collections.ConfigDict()
    c.data.source = "painters"  # painters | folder | csv | wikiart | tfds | arrays
    c.data.root = ""  # image root of the file-based sources
    c.data.val_root = ""  # separate validation folder (folder source)
    c.data.csv = ""  # csv source: manifest path (relative paths resolve against root)
    c.data.val_csv = ""
    c.data.path_column = "img_path"
    c.data.label_column = "artist"
    c.data.class_file = ""  # wikiart: class-list file
    c.data.train_split = ""  # wikiart: split files of `path,label_index` lines
    c.data.val_split = ""
    # Read by the wikiart source only (artjax/data/sources/wikiart.py): a work's label, how many classes to keep.
    c.data.task = "artist"  # artist | style | genre (the tasks of Cetinic et al. 2018)
    c.data.top_classes = 0  # > 0: only the N classes with the most works (ties by name); 0 = all
    # Class names kept out of training; their validation images are the unknown-artist set
    # on which open-set rejection is measured (artjax/data/holdout.py).
    c.data.holdout_classes = ()
    c.data.tfds_name = ""
    c.data.tfds_dir = ""
    c.data.arrays = ""  # arrays: .npz with x_train, y_train, x_test, y_test
    c.data.val_fraction = 0.2  # stratified split when the source has no validation set
    c.data.split_seed = 0  # seed of that split (independent of the training seed)
    c.data.tfds_train_split = "train"
    c.data.tfds_val_split = ""  # '' = stratified hold-out of the train split; 'test' for cifar10
    c.data.image_size = 64  # side of the square images the model sees
    c.data.augment = "flip"  # augmentation preset of the training split
    c.data.workers = 0  # grain worker processes for decoding + augmentation (0 = in process)
    c.data.strict = False  # unreadable images: False = skip and report, True = stop
    c.data.allow_overlap = False  # a file in both splits: False = refuse to train (data/integrity.py)
    c.data.max_pixels = 178_956_970  # decompression-bomb guard (Pillow's hard limit)
    c.data.decode_short_side = 0  # > 0: decode JPEGs at reduced size, short side >= this (fast)
    # Pre-decoded image cache of the file-based sources (folder, csv, wikiart), for big paintings:
    # each file decoded once, shrunk to short side <= cache_short_side, reused by later epochs and
    # runs ('' = off). `python -m artjax.data --config F` fills it up front.
    c.data.cache_dir = ""
    c.data.cache_short_side = 512
    # A labelled test set, scored once at the end of training and by `python -m artjax.evaluate`
    # (artjax/runs/evaluate.py): test_csv, a manifest with data.path_column / data.label_column
    # (paths relative to test_root, else to the CSV's folder); without it test_root is a folder
    # of class folders. Its classes must be the run's. '' = no test set.
    c.data.test_root = ""
    c.data.test_csv = ""
    # The built-in synthetic painters (data.source = 'painters').
    c.data.painters = ml_collections.ConfigDict()
    c.data.painters.seed = 0
    c.data.painters.num_artists = 6
    c.data.painters.num_train = 1200
    c.data.painters.num_val = 300
    c.data.painters.min_size = 96
    c.data.painters.max_size = 160

    c.model = ml_collections.ConfigDict()
    c.model.name = "resnet_mini"
    c.model.num_classes = 0  # 0 = the number of classes the data has
    c.model.weights = ""  # artjax weight directory (see `python -m artjax.weights convert`)
    # With weights: True starts the whole head fresh; False (torchvision practice) keeps every
    # head layer the class count leaves unchanged (VGG / AlexNet: the two 4096-wide layers).
    c.model.reinit_head = False
    c.model.dtype = "float32"  # compute dtype: float32 | bfloat16 (parameters stay float32)
    c.model.head = ml_collections.ConfigDict()
    c.model.head.kind = "linear"  # linear | mlp | logits | dense | vgg_classifier
    c.model.head.layers = 1  # mlp: number of FC layers (hidden widths halve)
    c.model.head.dropout = 0.0
    c.model.head.units = 256  # dense: hidden width
    # A learnable Resizer in front of the backbone (S2; artjax/models/resizer.py).
    c.model.resizer = ml_collections.ConfigDict()
    c.model.resizer.enabled = False
    c.model.resizer.target_size = 224  # the backbone sees target_size x target_size images
    c.model.resizer.filters = 16
    c.model.resizer.blocks = 1  # residual blocks
    c.model.resizer.cbam = False  # CBAM attention in the residual blocks ("Resizer_CBAM")
    c.model.resizer.interpolation = "linear"  # jax.image.resize method: linear | cubic | nearest
    # Multi-scale pyramid weighted pooling around the backbone (S1; artjax/models/pyramid.py).
    c.model.pyramid = ml_collections.ConfigDict()
    c.model.pyramid.enabled = False
    c.model.pyramid.levels = (1, 2, 5)  # n x n grids: 1 + 4 + 25 = 30 crops per painting
    c.model.pyramid.rule = "soft"  # soft | hard | adaptive
    c.model.pyramid.weights = ()  # level weights; () = S1's 25 : 4 : 1 (crop counts reversed)
    c.model.pyramid.chunk_size = 0  # crops per backbone call (0 = all at once); bounds memory
    c.model.pyramid.level_loss_weight = 0.0  # adds this x the mean per-level cross-entropy
    # One backbone per level, each from the same weights (the paper's reading; S1's code shares one).
    c.model.pyramid.per_level_backbone = False

    c.train = ml_collections.ConfigDict()
    c.train.epochs = 10
    c.train.batch_size = 32  # global batch, split over every device of every process
    c.train.freeze = ()  # stage names ('stem', 'stage1', ...) or parameter-path regexes
    c.train.frozen_bn = "pytorch"  # pytorch: frozen BN stats keep updating; keras: running stats
    c.train.log_every_steps = 10  # host sync for the progress bar and metrics.jsonl
    c.train.early_stop_patience = 0  # stop after N evaluations without a new best (0 = never)
    # Exponential moving average of the weights, updated every train step (0 = off; e.g. 0.999).
    c.train.ema_decay = 0.0
    c.train.ema_warmup = False  # decay min(ema_decay, (1 + n) / (10 + n)) after n updates (TF's rule)

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "sgd"  # sgd | adam | adamw | rmsprop
    c.optimizer.learning_rate = 0.01
    c.optimizer.momentum = 0.0  # sgd and rmsprop (PyTorch semantics)
    c.optimizer.nesterov = False
    c.optimizer.weight_decay = 0.0  # L2 added to the gradient; decoupled for adamw
    c.optimizer.b1 = 0.9  # adam / adamw betas and eps (eps outside the sqrt, as PyTorch)
    c.optimizer.b2 = 0.999
    c.optimizer.eps = 1e-8
    c.optimizer.rmsprop_decay = 0.99  # PyTorch RMSprop alpha (Keras rho is 0.9, eps 1e-7)
    c.optimizer.grad_clip_norm = 0.0  # 0 = no clipping of the global gradient norm
    c.optimizer.head_lr_multiplier = 1.0  # lr factor for the parameters of the `head` stage
    c.optimizer.accumulate_steps = 1  # average the gradients of k batches per update

    c.schedule = ml_collections.ConfigDict()
    c.schedule.name = "constant"  # constant | step | multistep | cosine | plateau
    c.schedule.step_size = 10  # step: epochs between decays (PyTorch StepLR)
    c.schedule.gamma = 0.1  # step / multistep decay factor
    c.schedule.milestones = ()  # multistep: epochs (PyTorch MultiStepLR)
    c.schedule.warmup_epochs = 0.0  # cosine: linear warm-up length
    c.schedule.min_lr = 0.0  # cosine: final lr (the larger of this and final_lr_fraction * lr); plateau: floor
    c.schedule.final_lr_fraction = 0.0
    # plateau = PyTorch ReduceLROnPlateau, stepped after each evaluation on `metric`.
    c.schedule.metric = "accuracy"  # a validation metric: accuracy | macro_f1 | loss
    c.schedule.mode = "max"  # max for accuracy / macro_f1, min for loss
    c.schedule.factor = 0.1
    c.schedule.patience = 10  # evaluations without improvement before a reduction
    c.schedule.threshold = 1e-4
    c.schedule.threshold_mode = "rel"
    c.schedule.cooldown = 0
    # Minimal reduction: a new lr less than eps below the old one is ignored (torch's eps).
    c.schedule.eps = 1e-8

    c.loss = ml_collections.ConfigDict()
    c.loss.kind = "softmax"  # softmax cross-entropy | sigmoid (two classes, one output logit)
    c.loss.label_smoothing = 0.0
    # Per-class weights from the training label counts: none | inverse (N / (C * n_c), sklearn's
    # 'balanced') | inverse_sqrt | effective_number (Cui et al. 2019, with `beta`).
    c.loss.class_weighting = "none"
    c.loss.beta = 0.999

    # Batch mixing on the device, inside the train step.
    c.mix = ml_collections.ConfigDict()
    c.mix.prob = 0.0  # probability that a batch is mixed
    c.mix.cutmix_alpha = 0.0  # > 0 enables CutMix with lambda ~ Beta(alpha, alpha)
    c.mix.mixup_alpha = 0.0  # > 0 enables MixUp
    c.mix.switch_prob = 0.5  # with both enabled: probability of CutMix

    c.eval = ml_collections.ConfigDict()
    c.eval.every_epochs = 1
    # How validation images are seen: full (the eval transform) | quadrants (the 4 quarters, each
    # a sample, as S1's test set; plus a per-painting vote) | random_quarter (4 seeded random
    # quarter-area crops, likewise) | hflip (image + mirror, probabilities averaged) | pyramid
    # (S1's 1x1, 2x2 and 5x5 crops, combined by the soft rule). Pyramid models always see their
    # pyramid crops. The views: artjax/eval/views.py.
    c.eval.view = "full"
    c.eval.openset_score = "msp"  # the unknown-artist score (artjax/eval/openset.py): msp | energy | gallery
    # Embed the training set at the run end (DIR/gallery.npz): predict --neighbours, the report's
    # nearest training works, kNN accuracy (DIR/knn.json) and the gallery open-set score.
    c.eval.gallery = True
    c.eval.batch_size = 0  # 0 = train.batch_size

    c.checkpoint = ml_collections.ConfigDict()
    c.checkpoint.keep = 2  # latest checkpoints kept
    c.checkpoint.keep_best = 1  # best checkpoints kept, by checkpoint.best_metric
    c.checkpoint.best_metric = "accuracy"  # accuracy | macro_f1 | loss, or ema_ + one (train.ema_decay)
    c.checkpoint.every_steps = 0  # also save inside an epoch every N steps (0 = epoch ends only)
    # The checkpoint the end-of-run test evaluation and report use: best (by best_metric) | last.
    c.checkpoint.select = "best"
    # The weights predict, evaluate, report and the end-of-run test use: auto (the EMA weights when
    # best_metric is an ema_ metric) | raw | ema (needs train.ema_decay).
    c.checkpoint.weights = "auto"

    c.lock()
    return c
