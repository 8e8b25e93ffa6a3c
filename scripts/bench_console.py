"""A/B: the venue's throughput without and with the console open on a book page, same run.

Each round starts a fresh venue twice (loadgen's `venue` target: fsync on, every order
rests), once alone and once with `VENUE_CONSOLE_PORT` set and a headless Chromium
(scripts/console_watch.py) logged in and watching the page. The measured throughput phase
starts only once the page is open and has had its first live update, so Chromium's start
is not counted. CPU seconds of each process during the phase are printed: the venue
process, the console process, the SQL projector, the browser (with Playwright's driver),
and the load generator itself.

    .venv/bin/python scripts/bench_console.py --rounds 3 --orders 20000 --page /books/AAPL
    .venv/bin/python scripts/bench_console.py --page hammer:50   # status queries alone
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loadgen  # noqa: E402  (a script beside this one)

from venue.fix.auth import hash_password  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int, tree: dict[int, list[int]]) -> list[int]:
    out, todo = [], list(tree.get(pid, []))
    while todo:
        child = todo.pop()
        out.append(child)
        todo.extend(tree.get(child, []))
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def groups(venue_pid: int, watcher_pid: int | None) -> dict[str, list[int]]:
    """The processes to account, by role (children looked up afresh each time)."""
    tree = children()
    kids = descendants(venue_pid, tree)
    out = {
        "venue": [venue_pid],
        "console": [p for p in kids if "venue.cli console" in cmdline(p)],
        "projector": [p for p in kids if "venue.cli console" not in cmdline(p)],
    }
    if watcher_pid is not None:
        out["browser"] = [watcher_pid, *descendants(watcher_pid, tree)]
    return out


def sample(g: dict[str, list[int]]) -> dict[str, float]:
    values = {name: sum(cpu_of(p) for p in pids) for name, pids in g.items()}
    values["loadgen"] = time.process_time()
    values["wall"] = time.perf_counter()
    return values


def measure(
    with_console: bool, params: loadgen.Params, page: str, toml: Path, work: Path
) -> dict[str, float]:
    port = loadgen.free_port()
    env = {"VENUE_REFERENCE_CONFIG": str(toml)}
    if with_console:
        env["VENUE_CONSOLE_PORT"] = str(port)
    target = loadgen.Target(loadgen.VENUE + loadgen.SERVE, env=env)
    name = "with-console" if with_console else "alone"
    with loadgen.running(name, target, False, 60.0, work) as server:
        watcher = None
        ready = work / f"watch-{time.time_ns()}.ready"
        watch_log = ready.with_suffix(".log")
        if with_console and page.startswith("hammer:"):  # status queries only, no browser
            with open(watch_log, "wb") as out:
                watcher = subprocess.Popen(
                    [sys.executable, __file__, "--hammer", str(server.workdir / "data"), page[7:]],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            time.sleep(1)
        elif with_console:
            with open(watch_log, "wb") as out:
                watcher = subprocess.Popen(
                    [sys.executable, str(ROOT / "scripts" / "console_watch.py"),
                     "--port", str(port), "--operator", "alice", "--password", "benchpw",
                     "--page", page, "--ready-file", str(ready)],
                    stdout=out, stderr=subprocess.STDOUT,
                )  # fmt: skip
            deadline = time.monotonic() + 90
            while not ready.exists():
                if watcher.poll() is not None or time.monotonic() > deadline:
                    watcher.kill()
                    raise SystemExit(f"watcher failed: {watch_log.read_text()[-2000:]}")
                time.sleep(0.1)
        clients = [loadgen.FixClient(server.port, s) for s in loadgen.SENDERS]
        try:
            for c in clients:
                c.logon()
            run_id = b"%x" % (time.time_ns() // 1_000_000 % 0xFFFFFF)
            warm = loadgen.Phase("W", run_id + b"W-", params.warmup)
            loadgen.run_closed(clients, warm, params.in_flight, params.stall)
            time.sleep(params.pause)
            g = groups(server.proc.pid, watcher.pid if watcher else None)
            before = sample(g)
            phase = loadgen.Phase("M", run_id + b"M-", params.orders)
            loadgen.run_closed(clients, phase, params.in_flight, params.stall)
            after = sample(g)
        finally:
            for c in clients:
                c.logout()
        row = loadgen.summarize(name, "throughput", phase)
        wall = after["wall"] - before["wall"]
        result = {"orders_per_s": row["orders_per_s"], "p99_us": row["p99_us"]}
        for key in before:
            if key != "wall":
                result[f"{key}_cpu_pct"] = round(100 * (after[key] - before[key]) / wall)
        if watcher is not None:
            watcher.terminate()
            watcher.wait(30)
            out = watch_log.read_text()
            updates = [
                line for line in out.splitlines() if "updates received" in line or "queries" in line
            ]
            result["watch"] = updates[-1] if updates else out[-300:]  # type: ignore[assignment]
        return result


@click.command()
@click.option("--rounds", default=3, show_default=True)
@click.option("--orders", default=20_000, show_default=True)
@click.option("--in-flight", default=200, show_default=True)
@click.option("--warmup", default=2_000, show_default=True)
@click.option("--page", default="/books/AAPL", show_default=True, help="Console page to watch.")
def main(rounds: int, orders: int, in_flight: int, warmup: int, page: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-console-"))
    toml = work / "venue.toml"
    demo = (ROOT / "fix_config" / "venue.toml").read_text()
    toml.write_text(f'{demo}\n[console.operators]\nalice = "{hash_password("benchpw")}"\n')
    params = loadgen.Params(orders, in_flight, 0, 0.0, 0, warmup, 1.0, 15.0)
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores: {os.cpu_count()})")
    ratios: list[float] = []
    try:
        run_rounds(rounds, params, page, toml, work, ratios)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ordered = sorted(ratios)
    print(
        f"ratios {', '.join(f'{r:.2f}' for r in ratios)}; median {ordered[len(ordered) // 2]:.2f}"
    )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


def run_rounds(
    rounds: int, params: loadgen.Params, page: str, toml: Path, work: Path, ratios: list[float]
) -> None:
    for k in range(1, rounds + 1):
        alone = measure(False, params, page, toml, work)
        print(f"round {k} alone:        {alone}", flush=True)
        both = measure(True, params, page, toml, work)
        print(f"round {k} with console: {both}", flush=True)
        ratios.append(both["orders_per_s"] / alone["orders_per_s"])
        print(f"round {k} ratio {ratios[-1]:.2f}", flush=True)


def hammer(data_dir: Path, rate: float) -> None:
    """`--hammer DATA_DIR RATE` (page "hammer:RATE"): status queries at RATE a second and
    no console or browser, to see what the queries alone cost the venue."""
    from venue.control import query

    sent, started, took = 0, time.monotonic(), []
    while True:
        began = time.perf_counter()
        try:
            query(data_dir, "status")
        except OSError:
            time.sleep(0.1)
            continue
        took.append(time.perf_counter() - began)
        sent += 1
        if sent % 50 == 0:
            took.sort()
            p50, p99 = took[len(took) // 2], took[int(len(took) * 0.99)]
            print(f"{sent} queries, p50 {p50 * 1e3:.2f} ms p99 {p99 * 1e3:.2f} ms", flush=True)
            took = []
        time.sleep(max(0.0, started + sent / rate - time.monotonic()))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--hammer"]:
        hammer(Path(sys.argv[2]), float(sys.argv[3]))
    else:
        main()
