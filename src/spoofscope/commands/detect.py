"""``spoofscope detect``: a verdict, ``p_spoof`` and flagged time ranges for each audio file.

One machine: ``spoofscope detect a.wav calls/ --json out.json --plot plots/``.
Bulk, across processes or machines: ``torchrun --nproc_per_node 4 -m spoofscope detect
--manifest M.jsonl --out results.jsonl``: rank ``r`` takes items ``r::WORLD_SIZE``, writes a
part file; rank 0 merges them into ``results.jsonl`` in manifest order
(:mod:`spoofscope.sharding`).
"""

from __future__ import annotations

import argparse
from typing import Any

NAME = "detect"
HELP = (
    "detect synthetic speech in audio files of any length: verdict (bonafide / spoof / review "
    "/ no_speech), calibrated p_spoof and the time ranges flagged as spoof"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH", help="audio files or directories")
    parser.add_argument("--recursive", action="store_true", help="search directories recursively")
    parser.add_argument(
        "--manifest", metavar="JSONL", help="analyse the files of a manifest (instead of PATHs)"
    )
    parser.add_argument(
        "--model",
        default="default",
        metavar="NAME|PATH",
        help="a checkpoint (.safetensors file or directory, official AASIST .pth, .onnx) or "
        "'default' (the model shipped with spoofscope)",
    )
    parser.add_argument(
        "--backend",
        choices=("torch", "onnx"),
        help="inference backend (default: onnx for an .onnx model, else torch)",
    )
    parser.add_argument("--json", metavar="FILE", help="write all results as JSON ('-' = stdout)")
    parser.add_argument("--csv", metavar="FILE", help="write one CSV row per file ('-' = stdout)")
    parser.add_argument(
        "--out", metavar="FILE", help="write one JSON result per line (JSONL), in input order"
    )
    parser.add_argument("--plot", metavar="DIR", help="write a timeline PNG per file into DIR")
    parser.add_argument("--workers", type=int, default=1, help="files analysed at once (1)")
    parser.add_argument("--hop", type=float, default=0.5, help="hop as a fraction of a window")
    parser.add_argument(
        "--vad",
        choices=("silero", "energy", "none"),
        default="silero",
        help="voice activity detection; windows with too little speech do not vote (silero)",
    )
    parser.add_argument(
        "--min-speech", type=float, help="speech fraction a window needs to vote (0.3)"
    )
    parser.add_argument(
        "--aggregation",
        choices=("mean", "min", "top-k", "weighted"),
        help="file score from the voting windows: min (the most spoof-like window, i.e. max "
        "p_spoof; the default), top-k (mean of the k most spoof-like), mean, or weighted (mean "
        "weighted by speech fraction)",
    )
    parser.add_argument("--top-k", type=int, help="k of --aggregation top-k (3)")
    parser.add_argument(
        "--lower", type=float, metavar="P", help="p_spoof below it is bonafide (calibrated)"
    )
    parser.add_argument(
        "--upper", type=float, metavar="P", help="p_spoof above it is spoof (calibrated)"
    )
    parser.add_argument("--batch-size", type=int, default=16, help="windows per forward pass")
    parser.add_argument("--device", default="cpu", help="torch device (cpu)")
    parser.add_argument(
        "--merge-timeout",
        type=float,
        default=86400.0,
        metavar="S",
        help="sharded runs: seconds rank 0 waits for the other ranks (86400)",
    )


def _check(args: argparse.Namespace) -> None:
    from spoofscope.errors import SpoofscopeError

    if bool(args.paths) == bool(args.manifest):
        raise SpoofscopeError("give audio PATHs or --manifest (one of the two)")
    if args.workers < 1 or args.batch_size < 1 or (args.top_k is not None and args.top_k < 1):
        raise SpoofscopeError("--workers, --batch-size and --top-k must be >= 1")
    if not 0.0 < args.hop <= 1.0:
        raise SpoofscopeError(f"--hop must be a fraction of a window in (0, 1], got {args.hop}")
    for name in ("lower", "upper", "min_speech"):
        value = getattr(args, name)
        if value is not None and not 0.0 <= value <= 1.0:
            raise SpoofscopeError(f"--{name.replace('_', '-')} must be in [0, 1], got {value}")
    if args.lower is not None and args.upper is not None and args.lower > args.upper:
        raise SpoofscopeError(f"--lower {args.lower} is above --upper {args.upper}")


def _items(args: argparse.Namespace) -> list[dict[str, Any]]:
    """``{"id", "path", ["label"]}`` per input, in order."""
    from spoofscope.errors import SpoofscopeError

    if args.manifest:
        from spoofscope.data.manifest import read_manifest

        return [
            {"id": u.id, "path": u.path, "label": u.label} for u in read_manifest(args.manifest)
        ]
    from spoofscope.inputs import expand_inputs

    files = expand_inputs(args.paths, recursive=args.recursive)
    if not files:
        raise SpoofscopeError(f"no audio files found in {' '.join(args.paths)}")
    return [{"id": f.stem, "path": str(f)} for f in files]


def _plot_names(items: list[dict[str, Any]]) -> list[str]:
    """A distinct PNG file name per item (ids, made unique)."""
    names: list[str] = []
    seen: set[str] = set()
    for item in items:
        base = "".join(c if c.isalnum() or c in "-_." else "_" for c in item["id"]) or "audio"
        name, n = base, 2
        while name in seen:
            name, n = f"{base}-{n}", n + 1
        seen.add(name)
        names.append(f"{name}.png")
    return names


def _detector(args: argparse.Namespace) -> Any:
    from spoofscope.inference import Detector

    backend = args.backend or ("onnx" if str(args.model).endswith(".onnx") else "torch")
    settings = {
        "vad": args.vad,
        "hop": args.hop,
        "batch_size": args.batch_size,
        "lower": args.lower,
        "upper": args.upper,
    }
    for name in ("aggregation", "top_k", "min_speech"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    try:
        return Detector.from_pretrained(args.model, backend, device=args.device, **settings)
    except ValueError as exc:
        from spoofscope.errors import SpoofscopeError

        raise SpoofscopeError(str(exc)) from None


def _job_key(items: list[dict[str, Any]], args: argparse.Namespace, model: dict) -> str:
    import hashlib
    import json

    settings = {k: v for k, v in vars(args).items() if k not in ("_run", "merge_timeout")}
    text = json.dumps([items, settings, model], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _analyse(detector: Any, items: list[dict], names: list[str], args: argparse.Namespace):
    import sys
    from pathlib import Path

    from tqdm import tqdm

    plot_dir = Path(args.plot) if args.plot else None
    png = {item["path"]: name for item, name in zip(items, names, strict=True)}
    quiet = not sys.stderr.isatty() or len(items) < 2
    with tqdm(total=len(items), unit="file", desc="detect", disable=quiet, leave=False) as bar:

        def done(entry: Any) -> None:
            if plot_dir is not None and entry.ok:
                from spoofscope.timeline_plot import plot_timeline

                plot_timeline(entry, plot_dir / png[entry.source])
                entry.envelope = None  # free it now
            bar.update(1)

        return detector.detect_many(
            [item["path"] for item in items],
            workers=args.workers,
            progress=done,
            envelope=plot_dir is not None,
        )


def run(args: argparse.Namespace) -> int:
    import sys

    from spoofscope import detect_output, sharding
    from spoofscope.errors import SpoofscopeError

    _check(args)
    info = sharding.shard_info()
    if info.world > 1 and not args.out:
        raise SpoofscopeError(f"a sharded run (WORLD_SIZE={info.world}) needs --out FILE")
    if info.world > 1 and (args.json or args.csv):
        raise SpoofscopeError("a sharded run writes --out FILE (JSONL); --json/--csv need one")
    items = _items(args)
    detector = _detector(args)
    key = _job_key(items, args, detector.model_info)
    sharding.join(info, args.merge_timeout)
    mine = sharding.shard_indices(len(items), info.rank, info.world)
    names = _plot_names(items)
    entries = _analyse(detector, [items[i] for i in mine], [names[i] for i in mine], args)
    failed = sum(not e.ok for e in entries)
    records = [
        {"index": i, **{k: v for k, v in items[i].items() if k != "path"}, **e.to_dict()}
        for i, e in zip(mine, entries, strict=True)
    ]
    if info.world == 1:
        if args.out:
            sharding.write_jsonl(args.out, ({k: v for k, v in r.items() if k != "index"}
                                            for r in records))  # fmt: skip
        if args.json:
            detect_output.write_json(entries, args.json)
        if args.csv:
            detect_output.write_csv(entries, args.csv)
        if "-" not in (args.json, args.csv):
            print(detect_output.render_table(entries))
    else:
        sharding.write_part(args.out, info, key, records)
        sharding.barrier(info, args.out, key, args.merge_timeout)
        if info.is_main:
            sharding.merge_parts(args.out, info.world, key, len(items))
            failed, total = _count_failed(args.out), len(items)
            print(f"merged {total} results from {info.world} ranks into {args.out}")
            entries = [None] * total
        sharding.finish(info)
    if failed:
        print(f"{failed} of {len(entries)} file(s) failed", file=sys.stderr)
    return 1 if entries and failed == len(entries) else 0


def _count_failed(path: str) -> int:
    import json

    with open(path, encoding="utf-8") as handle:
        return sum(json.loads(line).get("error") is not None for line in handle)
