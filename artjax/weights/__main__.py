"""python -m artjax.weights convert --arch NAME --source SOURCE --input FILE --output DIR

Converts a PyTorch state dict (.pth read with weights_only=True, or .safetensors) into an artjax
weight directory for `artjax.models.create(NAME, weights=DIR)` / `config.model.weights`.
Bad input prints one line `error: ...` and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys

from artjax.models.convert import SOURCES, convert


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m artjax.weights", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    conv = commands.add_parser("convert", help="convert a PyTorch state dict")
    conv.add_argument("--arch", required=True, help="artjax model name, e.g. resnet50")
    conv.add_argument("--source", required=True, choices=SOURCES)
    conv.add_argument("--input", required=True, help=".pth / .pt / .bin / .safetensors file")
    conv.add_argument("--output", required=True, help="new artjax weight directory")
    conv.add_argument("--num-classes", type=int, default=None,
                      help="head size (default: read from the file's classifier)")
    args = parser.parse_args(argv)
    try:
        meta = convert(args.arch, args.source, args.input, args.output, args.num_classes)
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}: {meta['arch']} ({meta['num_classes']} classes, from "
          f"{meta['source']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
