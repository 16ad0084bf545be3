"""``spoofscope export``: a checkpoint to ONNX (for ONNX Runtime) or TorchScript; int8 too."""

from __future__ import annotations

import argparse

NAME = "export"
HELP = (
    "export a checkpoint to ONNX (run by ONNX Runtime: --backend onnx) or TorchScript, with "
    "its metadata inside; --int8 also writes an int8-quantised ONNX file"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        required=True,
        help="a spoofscope checkpoint (.safetensors or directory) or an official AASIST .pth",
    )
    parser.add_argument("--format", choices=("onnx", "torchscript"), default="onnx")
    parser.add_argument(
        "--out",
        metavar="PATH",
        help="output file (default: the checkpoint's name with .onnx / .pt in the current "
        "directory); the int8 file goes beside it as NAME.int8.onnx",
    )
    parser.add_argument(
        "--opset", type=int, help="ONNX opset (default 18, the exporter's own; 18, 20, 23 tested)"
    )
    parser.add_argument(
        "--fused",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="export the model's fuse_for_inference() form (default: no; ONNX Runtime fuses "
        "the plain graph itself, and the fused AASIST cannot have a dynamic batch axis)",
    )
    parser.add_argument(
        "--int8",
        nargs="?",
        const="dynamic",
        choices=("dynamic", "static"),
        help="also write an int8 ONNX file: dynamic (int8 weights of matrix products; the "
        "default) or static (calibrated activations, convolutions too)",
    )
    parser.add_argument(
        "--calibration-manifest",
        metavar="FILE",
        help="--int8 static: calibrate on these utterances (default: synthetic speech-like "
        "signals)",
    )
    parser.add_argument(
        "--calibration-count",
        type=int,
        default=64,
        metavar="N",
        help="--int8 static: utterances used for calibration (default 64)",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from spoofscope.checkpoint import load_model
    from spoofscope.errors import SpoofscopeError
    from spoofscope.export import DEFAULT_OPSET, export_model

    if args.int8 and args.format != "onnx":
        raise SpoofscopeError("--int8 needs --format onnx")
    if args.opset is not None and args.format != "onnx":
        raise SpoofscopeError("--opset applies to --format onnx only")
    if args.calibration_count < 1:
        raise SpoofscopeError(f"--calibration-count must be >= 1, got {args.calibration_count}")
    if args.calibration_manifest and args.int8 != "static":
        raise SpoofscopeError("--calibration-manifest applies to --int8 static only")
    checkpoint = Path(args.checkpoint)
    suffix = ".onnx" if args.format == "onnx" else ".pt"
    out = Path(args.out) if args.out else Path(checkpoint.stem + suffix)
    model = load_model(checkpoint)
    meta = _metadata(model, checkpoint)
    opset = args.opset or DEFAULT_OPSET
    export_model(model, out, fmt=args.format, metadata=meta, opset=opset, fused=args.fused)
    print(f"wrote {out} ({args.format}, model {model.name}, {out.stat().st_size:,} bytes)")
    if args.int8:
        from spoofscope.quantize import quantize_int8

        int8_out = out.with_name(out.stem + ".int8.onnx")
        calibration = None
        if args.int8 == "static" and args.calibration_manifest:
            calibration = _manifest_waves(
                args.calibration_manifest, model.sample_rate, model.segment_samples,
                args.calibration_count,
            )  # fmt: skip
        elif args.int8 == "static":
            from spoofscope.quantize import speechlike

            calibration = speechlike(args.calibration_count, model.segment_samples)
        try:
            quantize_int8(out, int8_out, args.int8, calibration)
        except ValueError as exc:
            raise SpoofscopeError(f"{out} was written, but no int8 version: {exc}") from exc
        print(f"wrote {int8_out} (int8 {args.int8}, {int8_out.stat().st_size:,} bytes)")
    return 0


def _metadata(model, checkpoint) -> dict:
    """The checkpoint's metadata, or metadata built for an upstream ``.pth`` import."""
    meta = getattr(model, "checkpoint_metadata", None)
    if meta:
        return dict(meta)
    from spoofscope.checkpoint import build_metadata

    return build_metadata(model, extra={"imported_from": checkpoint.name})


def _manifest_waves(path: str, sample_rate: int, samples: int, count: int) -> list:
    """Up to ``count`` readable utterances of a manifest, cut or repeated to ``samples``."""
    import logging

    from spoofscope.audio import AudioError, load_audio, repeat_pad
    from spoofscope.data.manifest import read_manifest
    from spoofscope.errors import SpoofscopeError

    waves = []
    for utt in read_manifest(path):
        try:
            waves.append(repeat_pad(load_audio(utt.path, sample_rate), samples))
        except AudioError as exc:
            logging.getLogger(__name__).warning("calibration: skipping %s (%s)", utt.path, exc)
        if len(waves) >= count:
            break
    if not waves:
        raise SpoofscopeError(f"no readable audio in the calibration manifest {path}")
    return waves
