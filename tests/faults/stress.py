"""Run the fault tests on a machine made busy on purpose: `python -m tests.faults.stress`
(or `make fault-stress`). What a shared CI machine does to them by chance, done every time:

- CPU: one busy process more than there are cores (each spins in plain Python);
- disk: a writer that writes and fsyncs 64 MiB files in a loop (the databases' fsyncs queue
  behind it), and deletes them;
- memory: a process that holds a share of the available memory and touches every page of it
  again and again, so the page cache (SQLite files, the JetStream store) is squeezed.

The load starts before pytest and is stopped (by the ids of the processes started here) when it
ends; the load average is printed before, during and after. Arguments after `--` go to pytest.
"""

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHUNK = 1 << 20  # 1 MiB
PAGE = 4096


def _spin() -> None:
    while True:
        pass


def _write_files(folder: str, mib: int) -> None:
    block = os.urandom(CHUNK)
    path = Path(folder) / "stress.bin"
    while True:
        with path.open("wb") as file:
            for _ in range(mib):
                file.write(block)
            file.flush()
            os.fsync(file.fileno())
        path.unlink()


def _hold_memory(mib: int) -> None:
    held = bytearray(mib * CHUNK)
    while True:
        for offset in range(0, len(held), PAGE):
            held[offset] = (held[offset] + 1) & 0xFF
        time.sleep(0.5)


def _available_mib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 1024


def _start(target: str, *args: str) -> subprocess.Popen[bytes]:
    """One load process: this module run as `--worker <target> <args>`."""
    command = [sys.executable, "-m", "tests.faults.stress", "--worker", target, *args]
    return subprocess.Popen(command, stdin=subprocess.DEVNULL)


def _load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", type=int, default=(os.cpu_count() or 1) + 1, help="spinners")
    parser.add_argument("--disk-mib", type=int, default=64, help="size of each file written")
    parser.add_argument(
        "--memory-share", type=float, default=0.3, help="share of the available memory held"
    )
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    split = argv.index("--") if "--" in argv else len(argv)
    options, pytest_args = parser.parse_args(argv[:split]), argv[split + 1 :]
    if options.worker:
        return _work(options.worker)

    memory_mib = int(_available_mib() * options.memory_share)
    print(f"load average before: {_load_average()}", flush=True)
    print(
        f"load: {options.cpu} CPU spinners, a disk writer ({options.disk_mib} MiB files, "
        f"fsynced), {memory_mib} MiB of memory held and touched",
        flush=True,
    )
    load: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="lianjie-stress-") as folder:
        try:
            load += [_start("spin") for _ in range(options.cpu)]
            load.append(_start("disk", folder, str(options.disk_mib)))
            if memory_mib > 0:
                load.append(_start("memory", str(memory_mib)))
            time.sleep(3)  # let the load build up before the first test
            command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]
            command += pytest_args or ["tests/faults", "-q"]
            samples = [float(_load_average().split()[0])]
            tests = subprocess.Popen(command)
            while tests.poll() is None:
                samples.append(float(_load_average().split()[0]))
                time.sleep(1)
            code = tests.returncode
            print(
                f"1-minute load average while the tests ran: mean {sum(samples) / len(samples):.1f}"
                f", peak {max(samples):.1f}; at the end: {_load_average()}",
                flush=True,
            )
        finally:
            for process in load:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
            for process in load:
                process.wait(timeout=10)
    return code


def _work(worker: list[str]) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    target, args = worker[0], worker[1:]
    if target == "spin":
        _spin()
    elif target == "disk":
        _write_files(args[0], int(args[1]))
    elif target == "memory":
        _hold_memory(int(args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
