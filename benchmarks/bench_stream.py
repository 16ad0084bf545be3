"""Latency of live detection over ``WS /v1/stream``: a window's last sample sent -> its event.

A real uvicorn server (a subprocess, so the client does not share its interpreter) serves
the service app (``create_app``: auth off, a temporary SQLite database, the summary stored)
on 127.0.0.1; a client streams PCM16 at 16 kHz in ``--chunk-ms`` frames paced at real time
(``--speed`` times faster), notes when it sent the frame holding each window's last sample
and when that window's event arrived. Reported per model: the client-side latency (p50 /
p95 / max, ms), the server's own ``latency_ms`` (receipt of the frame -> event sent), the
time from ``{"type": "end"}`` to the summary, and the load average (run on an idle machine).

Models: ``tiny`` (AASIST-L with the registry's tiny config), ``aasist-l`` (the official
AASIST-L size, seeded random weights: speed does not depend on the weights; or the
official weights with ``--weights``), or a checkpoint path. Windows are the model's
(64,600 samples, hop 0.5: one event every 2.02 s).

Usage (from the repository root):

    .venv/bin/python benchmarks/bench_stream.py --models tiny aasist-l --seconds 30
    .venv/bin/python benchmarks/bench_stream.py --models aasist-l --vad none --speed 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SR = 16000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["tiny", "aasist-l"])
    p.add_argument("--weights", type=Path, help="official AASIST-L .pth for --models aasist-l")
    p.add_argument("--seconds", type=float, default=30.0, help="audio streamed per model")
    p.add_argument("--chunk-ms", type=float, default=20.0, help="audio per WebSocket frame")
    p.add_argument("--speed", type=float, default=1.0, help="send this many times real time")
    p.add_argument("--vad", default="silero", help="detector VAD backend (silero|energy|none)")
    p.add_argument("--threads", type=int, default=0, help="server torch threads (0 = default)")
    p.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    p.add_argument("--serve", nargs=3, metavar=("CKPT", "PORT", "DB"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def make_checkpoint(name: str, weights: Path | None, workdir: Path) -> Path:
    """A checkpoint file for ``name`` (see the module docstring)."""
    import torch

    from spoofscope.checkpoint import save_checkpoint
    from spoofscope.models import build_model, get_spec

    if name not in ("tiny", "aasist-l"):
        return Path(name)
    if name == "aasist-l" and weights is not None:
        return weights
    torch.manual_seed(0)
    model = build_model("aasist-l", **(get_spec("aasist-l").tiny if name == "tiny" else {}))
    return save_checkpoint(model.eval(), workdir / f"{name}.safetensors")


def serve(ckpt: str, port: int, db: str, vad: str, threads: int) -> None:
    """The server process: the service app on uvicorn, 127.0.0.1:port."""
    import torch
    import uvicorn

    from spoofscope.service.app import create_app
    from spoofscope.service.settings import ServiceSettings

    if threads:
        torch.set_num_threads(threads)
    settings = ServiceSettings(database_url=f"sqlite:///{db}", model=ckpt, auth=False,
                               job_workers=0, detector_options={"vad": vad})  # fmt: skip
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")


def speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    """Syllable-rate amplitude-modulated harmonics with a wandering pitch, plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * SR)) / SR
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * 3.5 * t), 0, None) ** 0.5
    wave = 0.25 * voice * envelope + 0.005 * rng.standard_normal(len(t))
    return np.clip(wave, -1, 1).astype(np.float32)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def stream(url: str, pcm: bytes, chunk_ms: float, speed: float) -> dict:
    """Stream ``pcm`` paced at ``speed`` x real time; latency of every window event."""
    import websockets

    step = int(SR * chunk_ms / 1000) * 2
    sent_at: list[tuple[int, float]] = []  # (last sample index + 1 sent, time)
    latencies, server_ms, events = [], [], []
    async with websockets.connect(url, max_size=None) as ws:
        ready = json.loads(await ws.recv())
        assert ready["type"] == "ready", ready

        async def receive() -> dict:
            while True:
                message = json.loads(await ws.recv())
                now = time.perf_counter()
                if message["type"] != "window":
                    return message
                end = round(message["end_s"] * SR)
                i = next(i for i, (n, _) in enumerate(sent_at) if n >= end)
                latencies.append((now - sent_at[i][1]) * 1000)
                server_ms.append(message["latency_ms"])
                events.append(message)

        receiver = asyncio.create_task(receive())
        t0 = time.perf_counter()
        for k, i in enumerate(range(0, len(pcm), step)):
            due = t0 + k * chunk_ms / 1000 / speed
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            sent_at.append((min(i + step, len(pcm)) // 2, time.perf_counter()))
            await ws.send(pcm[i : i + step])
        t_end = time.perf_counter()
        await ws.send(json.dumps({"type": "end"}))
        summary = await receiver
        t_summary = time.perf_counter() - t_end
    return {
        "windows": len(events),
        "verdict": summary.get("verdict"),
        "latency_ms": describe(latencies),
        "server_latency_ms": describe(server_ms),
        "end_to_summary_ms": round(t_summary * 1000, 1),
    }


def describe(values: list[float]) -> dict:
    if not values:
        return {}
    v = sorted(values)
    return {
        "n": len(v),
        "p50": round(statistics.median(v), 1),
        "p95": round(v[min(len(v) - 1, round(0.95 * (len(v) - 1)))], 1),
        "max": round(v[-1], 1),
    }


def bench(name: str, args: argparse.Namespace, workdir: Path) -> dict:
    ckpt = make_checkpoint(name, args.weights, workdir)
    port = free_port()
    db = workdir / f"{name}-{port}.db"
    cmd = [sys.executable, __file__, "--vad", args.vad, "--threads", str(args.threads),
           "--serve", str(ckpt), str(port), str(db)]  # fmt: skip
    server = subprocess.Popen(cmd)
    try:
        import httpx

        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server for {name} did not start")
            time.sleep(0.2)
        pcm = (speechlike(args.seconds) * 32767).astype("<i2").tobytes()
        url = f"ws://127.0.0.1:{port}/v1/stream?encoding=pcm16&rate={SR}"
        figures = asyncio.run(stream(url, pcm, args.chunk_ms, args.speed))
    finally:
        server.terminate()
        server.wait(30)
    return {"model": name, "vad": args.vad, "seconds": args.seconds, "chunk_ms": args.chunk_ms,
            "speed": args.speed, **figures}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.serve:
        ckpt, port, db = args.serve
        serve(ckpt, int(port), db, args.vad, args.threads)
        return
    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
        for name in args.models:
            results.append(bench(name, args, Path(tmp)))
            r = results[-1]
            lat, srv = r["latency_ms"], r["server_latency_ms"]
            print(f"{name:10s} {r['windows']:3d} windows  latency ms p50 {lat.get('p50')} "
                  f"p95 {lat.get('p95')} max {lat.get('max')}  (server p50 {srv.get('p50')} "
                  f"max {srv.get('max')})  end->summary {r['end_to_summary_ms']} ms",
                  flush=True)  # fmt: skip
    report = {"load_before": load_before, "load_after": os.getloadavg(),
              "cpus": os.cpu_count(), "results": results}  # fmt: skip
    print(f"load average before {load_before[0]:.2f}, after {report['load_after'][0]:.2f}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
