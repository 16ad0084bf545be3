"""Load test of the service on loopback: N concurrent clients posting 4-s clips to /v1/detect.

Reports throughput (requests and audio seconds per second), latency percentiles (p50, p90,
p99, max), the error rate by status, and checks that the rows stored for this run equal the
requests answered 200 (every answered detection is stored; no extra, no lost row).

Self-contained (starts ``spoofscope serve`` on a free port with a fresh SQLite database, a
key of its own and no rate limit, then stops it)::

    .venv/bin/python benchmarks/load_test.py --tiny aasist --clients 8 --duration 30
    .venv/bin/python benchmarks/load_test.py --model weights.safetensors --workers 2

Against a running server (rows checked only with ``--database-url``; the key's rate limit
applies)::

    .venv/bin/python benchmarks/load_test.py --url http://127.0.0.1:8000 --key ssk_... \\
        --database-url postgresql+psycopg://... --requests 500

``--tiny NAME`` serves the registry's tiny preset of model NAME with seeded random weights
(speed hardly depends on the weights; verdicts are meaningless). Run on an idle machine: the
load average is printed before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

SR = 16000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = p.add_mutually_exclusive_group()
    target.add_argument("--url", help="a running server (default: start one)")
    target.add_argument("--model", help="checkpoint the started server serves")
    target.add_argument("--tiny", default="aasist", help="tiny preset served when no --model")
    p.add_argument("--key", help="API key for --url")
    p.add_argument("--database-url", help="the server's database, to check the stored rows")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients (8)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of load (30)")
    p.add_argument("--requests", type=int, help="stop after this many requests instead")
    p.add_argument("--clip-s", type=float, default=4.0, help="seconds per clip (4)")
    p.add_argument("--workers", type=int, default=1, help="uvicorn workers of the started server")
    p.add_argument("--vad", default="energy", help="the started server's --vad (energy)")
    p.add_argument("--timeout", type=float, default=120.0, help="per-request timeout (s)")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    return p.parse_args(argv)


def clips(n: int, seconds: float) -> list[bytes]:
    """``n`` distinct WAV clips: a chirpy tone mixed with noise."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    t = np.arange(round(seconds * SR)) / SR
    out = []
    for i in range(n):
        f0 = 120 + 20 * i
        wave = 0.3 * np.sin(2 * np.pi * (f0 + 40 * np.sin(2 * np.pi * 3 * t)) * t)
        wave += 0.03 * rng.standard_normal(t.size)
        buf = io.BytesIO()
        sf.write(buf, wave.astype(np.float32), SR, format="WAV", subtype="PCM_16")
        out.append(buf.getvalue())
    return out


def tiny_checkpoint(name: str, directory: Path) -> Path:
    import torch

    from spoofscope.checkpoint import save_checkpoint
    from spoofscope.models import build_model, get_spec

    torch.manual_seed(0)
    model = build_model(name, **get_spec(name).tiny)
    if not model.trainable_by_gradient:
        rng = np.random.default_rng(0)
        model.fit([rng.standard_normal(SR).astype(np.float32) * 0.1 for _ in range(2)],
                  [rng.standard_normal(SR).astype(np.float32) for _ in range(2)])  # fmt: skip
    return save_checkpoint(model, directory / f"tiny-{name}.safetensors")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalServer:
    """``spoofscope serve`` on a free port with a fresh SQLite database and its own key."""

    def __init__(self, model: Path, workdir: Path, workers: int, vad: str) -> None:
        from spoofscope.service import auth
        from spoofscope.service.db import make_engine, migrate, session_factory

        self.database_url = f"sqlite:///{workdir / 'load.db'}"
        migrate(self.database_url)
        engine = make_engine(self.database_url)
        with session_factory(engine)() as s:
            _, self.key = auth.create_key(s, ["detect"], name="load-test")
        engine.dispose()
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = workdir / "serve.log"
        cmd = [sys.executable, "-m", "spoofscope", "serve", "--port", str(port),
               "--database-url", self.database_url, "--model", str(model), "--vad", vad,
               "--workers", str(workers), "--job-workers", "0", "--rate-limit", "0",
               "--log-level", "warning"]  # fmt: skip
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"server not ready:\n{self.log.read_text()}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def run_load(url: str, key: str, payloads: list[bytes], args: argparse.Namespace) -> dict:
    """Each client posts clips back to back until the time or request budget is spent."""
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    ids: list[str] = []
    budget = {"left": args.requests if args.requests else None}
    stop_at = time.perf_counter() + args.duration

    def more() -> bool:
        if budget["left"] is not None:
            if budget["left"] <= 0:
                return False
            budget["left"] -= 1
            return True
        return time.perf_counter() < stop_at

    async def client(i: int, http: httpx.AsyncClient) -> None:
        n = i
        while more():
            body = payloads[n % len(payloads)]
            n += args.clients
            t0 = time.perf_counter()
            try:
                r = await http.post("/v1/detect", content=body)
                code = str(r.status_code)
                if r.status_code == 200:
                    ids.append(r.json()["id"])
            except httpx.HTTPError as exc:
                code = type(exc).__name__
            latencies.append(time.perf_counter() - t0)
            statuses[code] = statuses.get(code, 0) + 1

    limits = httpx.Limits(max_connections=args.clients)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=args.timeout,
                                 limits=limits) as http:  # fmt: skip
        t0 = time.perf_counter()
        await asyncio.gather(*(client(i, http) for i in range(args.clients)))
        elapsed = time.perf_counter() - t0
    return {"latencies": latencies, "statuses": statuses, "ids": ids, "elapsed": elapsed}


def stored_rows(database_url: str, ids: list[str]) -> int:
    from sqlalchemy import func, select

    from spoofscope.service.db import Detection, make_engine, session_factory

    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as s:
            found = 0
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                found += s.scalar(select(func.count()).where(Detection.id.in_(chunk))) or 0
            return found
    finally:
        engine.dispose()


def summarize(out: dict, args: argparse.Namespace) -> dict[str, Any]:
    lat = sorted(out["latencies"])
    total = len(lat)
    ok = out["statuses"].get("200", 0)

    def pct(q: float) -> float:
        return round(1000 * lat[min(total - 1, int(q * total))], 1) if lat else float("nan")

    return {
        "clients": args.clients,
        "clip_s": args.clip_s,
        "requests": total,
        "answered_200": ok,
        "elapsed_s": round(out["elapsed"], 2),
        "throughput_rps": round(ok / out["elapsed"], 2),
        "audio_s_per_s": round(ok * args.clip_s / out["elapsed"], 1),
        "latency_ms": {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99),
                       "max": round(1000 * lat[-1], 1) if lat else None,
                       "mean": round(1000 * statistics.fmean(lat), 1) if lat else None},
        "error_rate": round(1 - ok / total, 4) if total else None,
        "statuses": out["statuses"],
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"load average before: {os.getloadavg()}")
    payloads = clips(16, args.clip_s)
    server = None
    with tempfile.TemporaryDirectory(prefix="spoofscope-load-") as tmp:
        workdir = Path(tmp)
        if args.url:
            if not args.key:
                raise SystemExit("--url needs --key")
            url, key, database_url = args.url, args.key, args.database_url
            model_desc = "external server"
        else:
            model = Path(args.model) if args.model else tiny_checkpoint(args.tiny, workdir)
            model_desc = str(args.model) if args.model else f"tiny {args.tiny} (random weights)"
            server = LocalServer(model, workdir, args.workers, args.vad)
            url, key, database_url = server.url, server.key, server.database_url
        try:
            info = httpx.get(f"{url}/v1/models", timeout=10).json()["models"][0]
            out = asyncio.run(run_load(url, key, payloads, args))
        finally:
            if server is not None:
                server.stop()
        report = summarize(out, args)
        report["model"] = {"served": model_desc, **{k: info.get(k) for k in ("name", "id")}}
        report["server_workers"] = args.workers if server is not None else None
        if database_url:
            rows = stored_rows(database_url, out["ids"])
            report["stored_rows"] = rows
            report["rows_match"] = rows == len(out["ids"]) == report["answered_200"]
    print(f"load average after: {os.getloadavg()}")
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report.get("rows_match", True) else 1


if __name__ == "__main__":
    sys.exit(main())
