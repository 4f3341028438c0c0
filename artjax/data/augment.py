"""Named per-image augmentation presets (the seeds' recipes) built with Albumentations 2.0.

A transform maps an HxWx3 uint8 image and a per-record random source (np.random.Generator or
int seed) to an image_size x image_size x 3 uint8 image. Normalisation is not done here (it
depends on the weights). Every preset starts with a geometric resize or crop, so the
photometric steps (CLAHE, noise ...) never see a degenerate 1x1 input.

Determinism: the Compose's random state is replaced on every call by generators drawn from the
record's own random source (`set_random_state`), so the output depends only on the image and
that source, never on which worker or how many calls came before. `set_random_seed` is NOT
used: it seeds every child transform with the same seed, so e.g. the horizontal and vertical
flip would always make the same coin toss.

Seed recipes -> Albumentations 2.0.8 (the seeds used 1.x; unspecified parameters take the 1.x
defaults the authors ran with):
  s0     (S0, parameters not given in the paper): Resize, HorizontalFlip, VerticalFlip,
         Rotate(limit 90, reflect-101 border), RandomBrightnessContrast(0.2, 0.2), CLAHE(4, 8x8),
         each p=0.5.
  s1_b3  (S1 EfficientNet-B3): Resize(2s) -> RandomCrop(s) -> CoarseDropout -> OneOf(MotionBlur,
         OpticalDistortion, GaussNoise; p 0.3) -> VerticalFlip -> HorizontalFlip.
         1.x CoarseDropout(max_holes=4, max_height=64, max_width=64) meant exactly 4 holes of
         exactly 64 px (min_* defaulted to max_*) -> num_holes_range=(4, 4) and a hole side of
         64/150 of the image (the seed's IMG_SIZE: its 2x resize is commented "300*300"), so
         holes scale with image_size. 1.x GaussNoise(var_limit=(10, 50)) on 0..255 ->
         std_range=(sqrt(10)/255, sqrt(50)/255). 1.x OpticalDistortion(0.05) reflected at the
         border -> border_mode=BORDER_REFLECT_101 (its shift_limit no longer exists).
  s1_b3_resize (S1's B3 ablation "plain resize of the original": 0.578 vs 0.725): s1_b3 with
         Resize(s) in place of Resize(2s) -> RandomCrop(s).
  s1_v2  (S1 EfficientNetV2-M, "fixed-size resize (good)"):
         Resize(s), HorizontalFlip, VerticalFlip, ShiftScaleRotate(0.1, 0.2, 30, p 0.5) ->
         Affine(translate_percent ±0.1 per axis, scale 0.8..1.2 with keep_ratio=True (1.x
         drew one scale), rotate ±30, reflect-101 border as 1.x), OneOf(MotionBlur,
         OpticalDistortion, GaussNoise, CLAHE(2, 8x8), Rotate(45..90, constant border); p 0.5).
  s1_v2_crop (S1 EfficientNetV2-M, "2x resize then crop (bad)"): s1_v2 with Resize(2s) ->
         RandomCrop(s) in place of Resize(s).
  s2     (S2 CIFAR): Resize(s), Pad(s/8, zeros) -> RandomCrop(s) (= RandomCrop(32, padding=4)
         at 32 px, scaled with the size), HorizontalFlip.
  s3     (S3 Keras ImageDataGenerator): Resize(s), Affine(rotate ±20, translate ±0.1 per axis,
         shear ±0.1 DEGREES along x (Keras' unit), zoom 0.9..1.1 per axis independently,
         nearest-edge fill = BORDER_REPLICATE, p 1), HorizontalFlip.
  s4     (S4): Resize(s), HorizontalFlip, Rotate(±30, constant border), each p=0.5.
  rrc    RandomResizedCrop(s, scale 0.08..1, ratio 3/4..4/3) + HorizontalFlip.
  flip   Resize(s) + HorizontalFlip.      none   Resize(s).
Evaluation (train=False): Resize(s) for every preset except s1_b3 and s1_v2_crop, which resize
to 2s and take the centre s x s crop (the scale their training crops have: a quarter of the
painting), and
rrc, which resizes the short side to s / 0.875 and centre-crops s (the ImageNet convention).
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from artjax import runtime

A = runtime.import_without_torch("albumentations")

RandomSource = np.random.Generator | int
Transform = Callable[[np.ndarray, RandomSource], np.ndarray]

PRESETS = ("none", "flip", "s0", "s1_b3", "s1_b3_resize", "s1_v2", "s1_v2_crop", "s2", "s3", "s4", "rrc")
S1_IMAGE_SIZE = 150  # the seed's CFG['IMG_SIZE']; its 64 px dropout holes scale from it
_REFLECT = cv2.BORDER_REFLECT_101
_CONSTANT = cv2.BORDER_CONSTANT


def _s1_oneof_members() -> list[A.BasicTransform]:
    return [
        A.MotionBlur(blur_limit=(3, 7), p=1.0),
        A.OpticalDistortion(distort_limit=0.05, border_mode=_REFLECT, p=1.0),
        A.GaussNoise(std_range=(math.sqrt(10) / 255, math.sqrt(50) / 255), p=1.0),
    ]


def _train_ops(preset: str, s: int) -> list[A.BasicTransform]:
    flips = [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)]
    if preset == "none":
        return [A.Resize(s, s)]
    if preset == "flip":
        return [A.Resize(s, s), A.HorizontalFlip(p=0.5)]
    if preset == "s0":
        return [
            A.Resize(s, s), *flips,
            A.Rotate(limit=(-90, 90), border_mode=_REFLECT, p=0.5),
            A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.5),
            A.CLAHE(clip_limit=4.0, tile_grid_size=(8, 8), p=0.5),
        ]
    # S1's test images are quarter crops: Resize(2s) -> RandomCrop(s) mimics them; the plain
    # Resize(s) is the seed's other arm (B3's ablation, V2-M's kept run).
    quarter_crop = [A.Resize(2 * s, 2 * s), A.RandomCrop(s, s)]
    if preset in ("s1_b3", "s1_b3_resize"):
        hole = 64 / S1_IMAGE_SIZE
        return [
            *(quarter_crop if preset == "s1_b3" else [A.Resize(s, s)]),
            A.CoarseDropout(num_holes_range=(4, 4), hole_height_range=(hole, hole),
                            hole_width_range=(hole, hole), fill=0, p=0.5),
            A.OneOf(_s1_oneof_members(), p=0.3),
            A.VerticalFlip(p=0.5),
            A.HorizontalFlip(p=0.5),
        ]
    if preset in ("s1_v2", "s1_v2_crop"):
        return [
            *(quarter_crop if preset == "s1_v2_crop" else [A.Resize(s, s)]), *flips,
            A.Affine(translate_percent={"x": (-0.1, 0.1), "y": (-0.1, 0.1)}, scale=(0.8, 1.2), keep_ratio=True,
                     rotate=(-30, 30), border_mode=_REFLECT, p=0.5),
            A.OneOf([
                *_s1_oneof_members(),
                A.CLAHE(clip_limit=2.0, tile_grid_size=(8, 8), p=1.0),
                A.Rotate(limit=(45, 90), border_mode=_CONSTANT, p=1.0),
            ], p=0.5),
        ]
    if preset == "s2":
        return [A.Resize(s, s), A.Pad(padding=max(1, round(s / 8)), fill=0, border_mode=_CONSTANT),
                A.RandomCrop(s, s), A.HorizontalFlip(p=0.5)]
    if preset == "s3":
        return [
            A.Resize(s, s),
            A.Affine(rotate=(-20, 20), translate_percent={"x": (-0.1, 0.1), "y": (-0.1, 0.1)},
                     shear={"x": (-0.1, 0.1), "y": (0.0, 0.0)}, scale={"x": (0.9, 1.1), "y": (0.9, 1.1)},
                     border_mode=cv2.BORDER_REPLICATE, p=1.0),
            A.HorizontalFlip(p=0.5),
        ]
    if preset == "s4":
        return [A.Resize(s, s), A.HorizontalFlip(p=0.5), A.Rotate(limit=(-30, 30), border_mode=_CONSTANT, p=0.5)]
    if preset == "rrc":
        return [A.RandomResizedCrop(size=(s, s), scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)), A.HorizontalFlip(p=0.5)]
    raise ValueError(f"unknown augmentation preset {preset!r}; expected one of {PRESETS}")


def _eval_ops(preset: str, s: int) -> list[A.BasicTransform]:
    if preset not in PRESETS:
        raise ValueError(f"unknown augmentation preset {preset!r}; expected one of {PRESETS}")
    if preset in ("s1_b3", "s1_v2_crop"):
        return [A.Resize(2 * s, 2 * s), A.CenterCrop(s, s)]
    if preset == "rrc":
        return [A.SmallestMaxSize(max_size=round(s / 0.875)), A.CenterCrop(s, s)]
    return [A.Resize(s, s)]


_CV2_INTERPOLATION = {cv2.INTER_NEAREST: "nearest", cv2.INTER_LINEAR: "bilinear", cv2.INTER_CUBIC: "bicubic",
                      cv2.INTER_AREA: "area"}


def describe_eval(preset: str, image_size: int) -> list[dict[str, Any]]:
    """The evaluation transform's steps as plain data (an exported model's manifest): each step's
    Albumentations class and arguments, interpolation also by name, to redo it without artjax."""
    steps = []
    for op in _eval_ops(preset, image_size):
        args = {k: v for k, v in op.to_dict()["transform"].items() if k not in ("__class_fullname__", "p")}
        step = {"op": type(op).__name__, **args}
        if "interpolation" in args:
            step["interpolation_name"] = f"{_CV2_INTERPOLATION[args['interpolation']]} (OpenCV code {args['interpolation']})"
        steps.append(step)
    return steps


class AlbumentationsTransform:
    """A preset as a picklable callable; each thread builds its own Compose (the random state
    is swapped per call, so threads must not share one)."""

    def __init__(self, preset: str, *, image_size: int, train: bool) -> None:
        if image_size < 1:
            raise ValueError(f"image_size must be >= 1, got {image_size}")
        self.preset = preset
        self.image_size = image_size
        self.train = train
        self._ops()  # fail on an unknown preset now, not in a worker
        self._local = threading.local()

    def _ops(self) -> list[A.BasicTransform]:
        return (_train_ops if self.train else _eval_ops)(self.preset, self.image_size)

    def _compose(self) -> A.Compose:
        compose = getattr(self._local, "compose", None)
        if compose is None:
            compose = self._local.compose = A.Compose(self._ops())
        return compose

    def __call__(self, image: np.ndarray, rng: RandomSource) -> np.ndarray:
        generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        compose = self._compose()
        compose.set_random_state(generator, random.Random(int(generator.integers(2**63))))
        return compose(image=image)["image"]

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_local"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()


def make_transform(preset: str, *, image_size: int, train: bool) -> Transform:
    """The named preset's training (train=True) or evaluation transform; see the module doc."""
    return AlbumentationsTransform(preset, image_size=image_size, train=train)
