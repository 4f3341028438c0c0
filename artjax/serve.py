"""Serve a trained run (or an exported model) as a web page and a JSON API.

    python -m artjax.serve (--workdir DIR [--which best|latest] | --model MODEL_DIR)
        [--host 127.0.0.1] [--port 8000] [--max-upload-mb 20]

Open http://HOST:PORT/ and drop a painting: the top-5 artists with their (calibrated)
probabilities, the Grad-CAM of the top one, the votes of the image's four quarters. The API and
its refusals are described in artjax/serving/app.py. The server binds the loopback address by
default; it has no authentication, so bind another address only on a network you trust.
Exit status 2 for a bad command (no run, no checkpoint, a bad flag value).
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys
from collections.abc import Sequence

import numpy as np
import uvicorn

from artjax.config import ConfigError
from artjax.runs.command import UsageError, run_command
from artjax.runs.restore import WHICH
from artjax.serving.app import NEIGHBOURS, create_app
from artjax.serving.predictor import ExportedPredictor, LivePredictor, ModelUnavailable, Predictor


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m artjax.serve", description=__doc__.split("\n\n")[0])
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--workdir", help="a run directory (config.json, checkpoints)")
    model.add_argument("--model", help="an exported model directory (python -m artjax.export)")
    parser.add_argument("--which", choices=WHICH, default="best", help="the run's checkpoint (default best)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--max-upload-mb", type=float, default=20.0,
                        help="largest accepted request body in MB (default 20)")
    return parser


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        return False


def _predictor(args: argparse.Namespace) -> Predictor:
    try:
        if args.model is not None:
            return ExportedPredictor.from_dir(args.model)
        return LivePredictor(args.workdir, which=args.which)
    except ModelUnavailable as error:
        raise UsageError(str(error)) from None
    except (FileNotFoundError, ConfigError, ValueError) as error:  # not a run, no (intact) checkpoint
        raise UsageError(str(error)) from None


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the model loads so that a taken port fails at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as error:
        raise UsageError(f"--host {host} --port {port}: {error.strerror or error}") from None


def serve(args: argparse.Namespace) -> int:
    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: not a port number")
    if not args.max_upload_mb > 0:
        raise UsageError(f"--max-upload-mb {args.max_upload_mb}: must be > 0")
    listening = _bind(args.host, args.port)
    with listening:
        predictor = _predictor(args)
        print(f"artjax: compiling the model ({predictor.checkpoint}) ...", file=sys.stderr)
        predictor.predict(np.full((64, 64, 3), 128, np.uint8), NEIGHBOURS)  # the first request should not wait for XLA
        if not _is_loopback(args.host):
            print(f"artjax: warning: serving on {args.host}, not a loopback address: anyone who can reach it can "
                  f"use the model (there is no authentication)", file=sys.stderr)
        app = create_app(predictor, max_upload_bytes=int(args.max_upload_mb * 2**20))
        print(f"artjax: serving {len(predictor.class_names)} classes at http://{args.host}:{args.port}/ "
              f"(probabilities {predictor.calibration}); Ctrl-C stops", file=sys.stderr)
        uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[listening])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(serve, _parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
