"""The bench suite: the transfer tasks of `optevo bench` (SPEC 7.5, the paper's Appendix B),
with their budgets.

Steps at scale 1 (warm-up W / hold H), batch:
- fashion-convnet: Fashion-MNIST, ConvNet base 16 (CPU-sized, the `quick` fitness network);
  3,000 (200 / 400), 64.
- cifar10-convnet: CIFAR-10, ConvNet base 32, crop/flip/cutout (CPU-sized); 8,000
  (533 / 1,067), 128.
- cifar10-effnetv2s, cifar100-effnetv2s: 32x32, EfficientNetV2-S from scratch, progressive
  RandAugment (+ crop, flip); 96,000 (6,400 / 12,800), 64.
- tinyimagenet-resnet9: 64 -> 72 bicubic, random 64 crop, translation, flips; ResNet9;
  300,000 (6,400 / 12,800), 256.
- flowers102-finetune, cars196-finetune, caltech101-finetune: EfficientNetV2-S from an
  ImageNet-1k checkpoint, 224x224, dropout 0.5, RandAugment 15 (+ flip); 10,000 (667 / 1,333),
  64.
- ptb-awdlstm: PTB, 3-layer AWD-LSTM (24M), validation perplexity; 99,600 (6,640 / 13,280),
  80 sequences x 70 tokens.

The paper gives W/H (6,400 warm-up, 12,800 hold) for CIFAR and TinyImageNet only; the other
tasks keep the same proportions of their run (1/15 and 2/15). `--scale S` multiplies every
step count (total, warm-up, hold), never the data.

The registry (`optevo.tasks.registry.TASKS`) holds these and the search and validation suites'
tasks (`optevo.tasks.suites`), which `optevo bench` runs at their suite's size.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from optevo.data.augment import Augment
from optevo.data.idx import FASHION_FILES
from optevo.data.images import ImageSet
from optevo.data.randaugment import ProgressiveRandAugment, RandAugment
from optevo.tasks import bench_data as ds
from optevo.tasks.base import Budget, Runner, Task, TaskOptions
from optevo.tasks.classify import ImagePipeline, random_crop_to

_proportional = Budget.proportional


# -- builders ---------------------------------------------------------------------------------


def _root(opts: TaskOptions, name: str, files: str) -> Path:
    if opts.root is None:
        raise FileNotFoundError(f"{name} needs --root, a folder holding: {files}")
    return Path(opts.root)


def _after(augment: Augment) -> Callable[[torch.Tensor, float, torch.Generator], torch.Tensor]:
    return lambda x, progress, gen: augment(x, gen)


def _build_convnet(
    load: Callable[[Path | None], ImageSet], base: int, augment: Augment
) -> Callable[[TaskOptions, Budget], Runner]:
    from optevo.models import ConvNet
    from optevo.tasks.classify import ClassificationRunner

    def build(opts: TaskOptions, budget: Budget) -> Runner:
        data = opts.data or load(None if opts.root is None else Path(opts.root))
        kwargs = {"base": base, **opts.model}
        c = data.train[0].shape[1]
        pipeline = ImagePipeline(data.mean, data.std, data.max_value, after=_after(augment))
        return ClassificationRunner(
            data,
            lambda: ConvNet(in_channels=c, num_classes=data.num_classes, **kwargs),
            pipeline,
            budget.batch_size,
            opts.device,
            opts.eval_batch_size or 500,
        )

    return build


def _build_effnet_scratch(
    load: Callable[[Path | None], ImageSet],
) -> Callable[[TaskOptions, Budget], Runner]:
    from optevo.models.efficientnet import EfficientNetV2S
    from optevo.tasks.classify import ClassificationRunner

    def build(opts: TaskOptions, budget: Budget) -> Runner:
        data = opts.data or load(None if opts.root is None else Path(opts.root))
        randaug = ProgressiveRandAugment()
        pipeline = ImagePipeline(
            data.mean,
            data.std,
            data.max_value,
            before=lambda x, progress, gen: randaug(x, progress, gen),
            after=_after(Augment(crop=True, flip=True)),
        )
        return ClassificationRunner(
            data,
            lambda: EfficientNetV2S(data.num_classes, **opts.model),
            pipeline,
            budget.batch_size,
            opts.device,
            opts.eval_batch_size or 256,
        )

    return build


def _build_tiny(opts: TaskOptions, budget: Budget) -> Runner:
    from optevo.models.resnet9 import ResNet9
    from optevo.tasks.classify import ClassificationRunner

    size = opts.image_size or 72
    crop = size * 64 // 72
    data = opts.data or ds.load_tinyimagenet(_root(opts, "tinyimagenet", ds.TINY_FILES), size)
    translate = Augment(crop=True, flip=True, pad=max(1, crop // 16))
    pipeline = ImagePipeline(
        data.mean,
        data.std,
        data.max_value,
        before=lambda x, progress, gen: random_crop_to(x, crop, gen),
        after=_after(translate),
        eval_crop=crop,
    )
    return ClassificationRunner(
        data,
        lambda: ResNet9(data.num_classes, **opts.model),
        pipeline,
        budget.batch_size,
        opts.device,
        opts.eval_batch_size or 500,
    )


def _build_finetune(
    load: Callable[..., ImageSet], name: str, files: str
) -> Callable[[TaskOptions, Budget], Runner]:
    from optevo.models.efficientnet import EfficientNetV2S, load_checkpoint
    from optevo.tasks.classify import ClassificationRunner

    def build(opts: TaskOptions, budget: Budget) -> Runner:
        if opts.checkpoint is None:
            raise FileNotFoundError(
                f"{name} fine-tunes EfficientNetV2-S from ImageNet-1k weights: pass "
                "--checkpoint FILE, a torchvision efficientnet_v2_s state dict "
                "(EfficientNet_V2_S_Weights.IMAGENET1K_V1, saved with torch.save)"
            )
        data = opts.data or load(_root(opts, name, files), size=opts.image_size or 224)
        pretrained = EfficientNetV2S(1000, **opts.model)
        load_checkpoint(pretrained, opts.checkpoint)  # checked once, before any training
        weights = {k: v.clone() for k, v in pretrained.state_dict().items()}
        del pretrained

        def make_model() -> nn.Module:
            model = EfficientNetV2S(1000, dropout=0.5, **opts.model)
            model.load_state_dict(weights)
            model.reset_classifier(data.num_classes)
            return model

        randaug = RandAugment(magnitude=15.0)
        pipeline = ImagePipeline(
            data.mean,
            data.std,
            data.max_value,
            before=lambda x, progress, gen: randaug(x, progress, gen),
            after=_after(Augment(flip=True)),
        )
        return ClassificationRunner(
            data, make_model, pipeline, budget.batch_size, opts.device, opts.eval_batch_size or 64
        )

    return build


def _build_ptb(opts: TaskOptions, budget: Budget) -> Runner:
    from optevo.models.awd_lstm import AWDLSTM
    from optevo.tasks.language import LanguageRunner

    data = opts.data or ds.load_ptb(_root(opts, "ptb", ds.PTB_FILES))
    return LanguageRunner(
        data,
        lambda: AWDLSTM(len(data.vocab), **opts.model),
        batch_size=budget.batch_size,
        device=opts.device,
        eval_batch_size=opts.eval_batch_size or 10,
    )


_SCRATCH = Budget(total_steps=96_000, warmup_steps=6_400, hold_steps=12_800, batch_size=64)


def _finetune_task(name: str, column: str, load: Callable[..., ImageSet], files: str) -> Task:
    """SPEC 7.5's fine-tuning of ImageNet EfficientNetV2-S on data set `name`."""
    return Task(
        f"{name}-finetune",
        column,
        "accuracy",
        _proportional(10_000, 64),
        files,
        _build_finetune(load, name, files),
        finetune=True,
        needs_checkpoint=True,
        family="efficientnet-finetune",
        source=name,
    )


BENCH_TASKS: tuple[Task, ...] = (
    Task(
        "fashion-convnet",
        "Fashion",
        "accuracy",
        _proportional(3_000, 64),
        FASHION_FILES,
        _build_convnet(ds.fashion_mnist_set, 16, Augment()),
        needs_root=False,
        family="convnet",
        source="fashion-mnist",
    ),
    Task(
        "cifar10-convnet",
        "CIFAR-10 (ConvNet)",
        "accuracy",
        _proportional(8_000, 128),
        "the CIFAR-10 python batches (folder or .tar.gz)",
        _build_convnet(ds.load_cifar10, 32, Augment(crop=True, flip=True, cutout=True)),
        needs_root=False,
        family="convnet",
        source="cifar10",
    ),
    Task(
        "cifar10-effnetv2s",
        "CIFAR-10",
        "accuracy",
        _SCRATCH,
        "the CIFAR-10 python batches (folder or .tar.gz)",
        _build_effnet_scratch(ds.load_cifar10),
        needs_root=False,
        family="efficientnet",
        source="cifar10",
    ),
    Task(
        "cifar100-effnetv2s",
        "CIFAR-100",
        "accuracy",
        _SCRATCH,
        "the CIFAR-100 python batches (folder or .tar.gz)",
        _build_effnet_scratch(ds.load_cifar100),
        needs_root=False,
        family="efficientnet",
        source="cifar100",
    ),
    Task(
        "tinyimagenet-resnet9",
        "Tiny",
        "accuracy",
        Budget(total_steps=300_000, warmup_steps=6_400, hold_steps=12_800, batch_size=256),
        ds.TINY_FILES,
        _build_tiny,
        family="resnet",
        source="tinyimagenet",
    ),
    _finetune_task("flowers102", "Flowers", ds.load_flowers102, ds.FLOWERS_FILES),
    _finetune_task("cars196", "Cars", ds.load_cars196, ds.CARS_FILES),
    _finetune_task("caltech101", "Caltech", ds.load_caltech101, ds.CALTECH_FILES),
    Task(
        "ptb-awdlstm",
        "PTB",
        "perplexity",
        _proportional(99_600, 80),
        ds.PTB_FILES,
        _build_ptb,
        family="lstm",
        source="ptb",
    ),
)
"""The transfer benchmarks, in the order of the paper's tables."""

__all__ = ["BENCH_TASKS"]
