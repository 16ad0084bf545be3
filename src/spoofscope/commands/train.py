"""``spoofscope train``: train or fine-tune a model from a YAML config (one process or torchrun)."""

from __future__ import annotations

import argparse

NAME = "train"
HELP = (
    "train a model from a YAML config (presets in configs/); --set key=value overrides; "
    "launch with torchrun for several processes or nodes"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG.yaml", help="training config (YAML)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set optim.lr=3e-4 --set data.batch_size=16 "
        "(values are YAML: true, null, [0.1, 0.9])",
    )
    parser.add_argument("--out", metavar="DIR", help="output directory (overrides out_dir)")
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in the output directory"
    )
    parser.add_argument(
        "--print-config", action="store_true", help="print the resolved config and exit"
    )


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    import yaml

    from spoofscope.config_io import load_config, to_dict
    from spoofscope.train_config import TrainConfig

    cfg = load_config(TrainConfig, args.config, args.overrides)
    if args.print_config:
        print(yaml.safe_dump(to_dict(cfg), sort_keys=False), end="")
        return 0
    out = args.out or cfg.out_dir or str(Path("runs") / Path(args.config).stem)

    from spoofscope.train import run_training

    def report(record: dict) -> None:
        eer = record["dev_eer"]
        loss = record["train_loss"]
        print(
            f"epoch {record['epoch']} step {record['step']}: "
            f"train loss {'-' if loss is None else f'{loss:.4f}'}, "
            f"dev EER {'-' if eer is None else f'{100 * eer:.2f}%'}, "
            f"{record['seconds']:.1f} s"
            + (
                f", skipped {record['skipped_train']} train / {record['skipped_dev']} dev files"
                if record["skipped_train"] or record["skipped_dev"]
                else ""
            ),
            flush=True,
        )

    summary = run_training(cfg, out, resume=args.resume, on_epoch=report)
    if summary.get("rank", 0) != 0:
        return 0
    skipped = summary.get("skipped_files") or {}
    if any(skipped.values()):
        print(
            f"skipped unreadable files: {skipped.get('train', 0)} train, "
            f"{skipped.get('dev', 0)} dev (see the warnings above)",
            file=sys.stderr,
        )
    print(json.dumps(summary, indent=2))
    return 0
