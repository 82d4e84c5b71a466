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
PROBE = ("import runpy, sys; sys.argv = ['ragtune', *sys.argv[1:]]\n"
         "try:\n    runpy.run_module('ragtune.cli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
         "sys.stderr.write('TORCH\\n' if 'torch' in sys.modules else 'NO-TORCH\\n')")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--gateway-url", help="a running gateway serving the same corpus (adds the gateway row)")
    args = parser.parse_args()
    from ragtune.settings import Settings

    models_dir = Settings().models_dir
    rows = []
    with tempfile.TemporaryDirectory() as work:
        home = Path(work) / "home"
        home.mkdir()
        (home / "models").symlink_to(models_dir, target_is_directory=True)
        env = {**os.environ, "RAGTUNE_HOME": str(home), "HF_HUB_OFFLINE": "1", "RAGTUNE_URL": "http://127.0.0.1:9"}
        subprocess.run([sys.executable, "-m", "ragtune.cli", "index", "add-sample"], env=env, check=True,
                       capture_output=True)
        commands = [("index stats", ["index", "stats"], env), ("index list", ["index", "list"], env),
                    ("index search (here)", ["index", "search", QUERY, "--local"], env)]
        if args.gateway_url:
            commands.append(("index search (gateway)", ["index", "search", QUERY],
                             {**env, "RAGTUNE_URL": args.gateway_url}))
        for label, argv, command_env in commands:
            runs = [timed(argv, command_env) for _ in range(args.runs)]
            rows.append({"command": f"ragtune {label}",
                         "wall_s_median": round(statistics.median(r[0] for r in runs), 2),
                         "cpu_s_median": round(statistics.median(r[1] for r in runs), 2),
                         "imports_torch": any(r[2] for r in runs), "runs": args.runs})
    load = os.getloadavg()[0]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cli.json").write_text(json.dumps({"load_average_1m": load, "rows": rows}, indent=2) + "\n")
    lines = ["# CLI time per command", "",
             f"Median of {args.runs} fresh processes each, sample corpus indexed; CPU = user + system of the "
             f"process. Load average during the run: {load:.1f} (wall time on a busy machine overstates; "
             "CPU time holds).", "",
             "| command | wall s | CPU s | imports torch |", "|---|---:|---:|---|"]
    lines += [f"| {r['command']} | {r['wall_s_median']:.2f} | {r['cpu_s_median']:.2f} | "
              f"{'yes' if r['imports_torch'] else 'no'} |" for r in rows]
    (RESULTS / "cli.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
