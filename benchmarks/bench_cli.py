"""CLI wall time per command: ``ragtune index stats``, ``index list`` and ``index search`` (here, and
through a running gateway's ``/v1/search``).

Builds a home with the sample corpus indexed, then runs each command ``--runs`` times as a fresh
process and reports the median wall time and CPU time (user + system of the child; CPU time holds
steady on a busy machine where wall time does not), and whether the process imported torch. Goal:
each within 2 s on a quiet machine. Writes benchmarks/results/cli.{json,md}.

    .venv/bin/python benchmarks/bench_cli.py [--runs 3] [--gateway-url http://127.0.0.1:8000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
QUERY = "How long does an energy declaration remain valid?"
PROBE = (
    "import runpy, sys; sys.argv = ['ragtune', *sys.argv[1:]]\n"
    "try:\n    runpy.run_module('ragtune.cli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
    "sys.stderr.write('TORCH\\n' if 'torch' in sys.modules else 'NO-TORCH\\n')"
)


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float, bool]:
    """(wall s, CPU s, imported torch) of one fresh ``ragtune ARGS`` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"ragtune {' '.join(args)} failed: {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stderr.strip().endswith("TORCH") and not done.stderr.strip().endswith("NO-TORCH")


def measure(commands: list, runs_per_command: int) -> list[dict]:
    rows = []
    for label, argv, command_env in commands:
        runs = [timed(argv, command_env) for _ in range(runs_per_command)]
        rows.append(
            {
                "command": f"ragtune {label}",
                "wall_s_median": round(statistics.median(r[0] for r in runs), 2),
                "cpu_s_median": round(statistics.median(r[1] for r in runs), 2),
                "imports_torch": any(r[2] for r in runs),
                "runs": runs_per_command,
            }
        )
    return rows


def start_gateway(home: Path, env: dict[str, str]) -> list[subprocess.Popen]:
    """The stub engine and ``ragtune serve`` over ``home``, ready (the gateway writes its marker)."""
    import socket

    import httpx

    ports = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    log = (home / "bench-gateway.log").open("wb")
    stub = subprocess.Popen(
        [sys.executable, str(REPO / "benchmarks" / "stub_engine.py"), "--port", str(ports[0])],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    gateway = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ragtune.cli",
            "serve",
            "--engine-url",
            f"http://127.0.0.1:{ports[0]}",
            "--port",
            str(ports[1]),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and gateway.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{ports[1]}/healthz", timeout=2).status_code == 200:
                return [gateway, stub]
        except httpx.HTTPError:
            pass
        time.sleep(1)
    gateway.kill()
    stub.kill()
    raise RuntimeError("the gateway did not come up; see " + str(home / "bench-gateway.log"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--no-gateway",
        action="store_true",
        help="skip the gateway row (it starts `ragtune serve` over the same home, with the "
        "benchmarks' stub engine: search needs no generation)",
    )
    args = parser.parse_args()
    from ragtune.settings import Settings

    models_dir = Settings().models_dir
    rows = []
    with tempfile.TemporaryDirectory() as work:
        home = Path(work) / "home"
        home.mkdir()
        (home / "models").symlink_to(models_dir, target_is_directory=True)
        env = {**os.environ, "RAGTUNE_HOME": str(home), "HF_HUB_OFFLINE": "1", "RAGTUNE_URL": "http://127.0.0.1:9"}
        subprocess.run(
            [sys.executable, "-m", "ragtune.cli", "index", "add-sample"], env=env, check=True, capture_output=True
        )
        commands = [
            ("index stats", ["index", "stats"], env),
            ("index list", ["index", "list"], env),
            ("index search (here)", ["index", "search", QUERY, "--local"], env),
        ]
        served = [] if args.no_gateway else start_gateway(home, env)
        if served:
            gateway_env = {k: v for k, v in env.items() if k != "RAGTUNE_URL"}  # found in the home's marker
            commands.append(("index search (gateway)", ["index", "search", QUERY], gateway_env))
        try:
            rows += measure(commands, args.runs)
        finally:
            for process in served:
                process.terminate()
                process.wait(timeout=30)
    load = os.getloadavg()[0]

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cli.json").write_text(json.dumps({"load_average_1m": load, "rows": rows}, indent=2) + "\n")
    lines = [
        "# CLI time per command",
        "",
        f"Median of {args.runs} fresh processes each, sample corpus indexed; CPU = user + system of the "
        f"process. Load average during the run: {load:.1f} (wall time on a busy machine overstates; "
        "CPU time holds).",
        "",
        "| command | wall s | CPU s | imports torch |",
        "|---|---:|---:|---|",
    ]
    lines += [
        f"| {r['command']} | {r['wall_s_median']:.2f} | {r['cpu_s_median']:.2f} | "
        f"{'yes' if r['imports_torch'] else 'no'} |"
        for r in rows
    ]
    (RESULTS / "cli.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
