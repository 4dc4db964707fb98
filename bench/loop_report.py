"""The tables of the reservations, imports and referral-loop sections (issue 21), beside the
ranking tables of `report.py`: each figure with its same-run reference and spread."""

from typing import Any


def _measured(results: dict[str, Any], key: str) -> tuple[int, dict[str, Any]] | None:
    """The largest size whose results hold `key`."""
    found = [(int(size), r[key]) for size, r in results["sizes"].items() if key in r]
    return max(found) if found else None


def _spread(run: dict[str, Any] | None) -> str:
    if not run:
        return "not measured"
    low, high = run["spread_per_s"]
    rounds = len(run["rounds"])
    return (
        f"{run['reservations_per_s']:,.1f} /s ({low:,.1f}–{high:,.1f} over {rounds} rounds; "
        f"{run['service_cpu_ms_per_attempt']:.2f} ms service CPU per attempt"
        + (
            f", {run['client_cpu_ms_per_attempt']:.2f} ms the clients'"
            if "client_cpu_ms_per_attempt" in run
            else ""
        )
        + ")"
    )


def reservations_table(results: dict[str, Any]) -> list[str]:
    """This checkout's ledger beside the reference commit's, over HTTP and over NATS."""
    found = _measured(results, "loop")
    held = (found[1] if found else {}).get("reservations")
    if not held or "nats" not in held:
        return []
    nats = held["nats"]
    return [
        "",
        f"Reservations, {held['rounds'][0]['clients']} clients, one unit each, PostgreSQL: this "
        f"checkout beside the reference commit `{held['reference_rev']}` (the code before "
        "issue 21's work), each its own resources service and database in the same stack, "
        "rounds alternated (median round; fastest–slowest):",
        "",
        "| path | this checkout | reference | ratio | overbooked units |",
        "|---|---|---|---|---|",
        f"| HTTP `POST /capacity/reserve` | {_spread(held)} | {_spread(held.get('reference'))} "
        f"| {held.get('current_over_reference') or '—'}× | {held['overbooked_units']} |",
        f"| NATS `lianjie.resources.capacity.reserve.v1` (how the needs service reserves) "
        f"| {_spread(nats.get('current'))} | {_spread(nats.get('reference'))} "
        f"| {nats.get('current_over_reference') or '—'}× "
        f"| {nats['current']['overbooked_units']} |",
    ]


def imports_table(results: dict[str, Any]) -> list[str]:
    """Volunteer imports at each size beside the COPY floor, and creating in a crowded spot."""
    found = _measured(results, "imports")
    if not found:
        return []
    out = found[1]
    sizes = sorted(int(key.split("_")[1]) for key in out if key.startswith("import_"))
    lines = [
        "",
        "Imports (凉山州 volunteers from one CSV, duplicate detection on, PostgreSQL, the "
        "code of `POST /resources/import` in process) beside the floor (the same rows read and "
        "COPY'd into a bare table):",
        "",
        "| rows | seconds | ms per row | ms per row, each 10,000 | flagged duplicates "
        "| COPY floor, ms per row | ÷ floor |",
        "|---|---|---|---|---|---|---|",
    ]
    for size in sizes:
        run, floor = out[f"import_{size}"], out.get(f"floor_{size}", {})
        blocks = ", ".join(f"{b:.1f}" for b in run["ms_per_row_each_10k"])
        ratio = run["ms_per_row"] / floor["ms_per_row"] if floor.get("ms_per_row") else None
        lines.append(
            f"| {size:,} | {run['seconds']:,.1f} | {run['ms_per_row']:.2f} | {blocks} "
            f"| {run['flagged_duplicates']:,} | {floor.get('ms_per_row', '—')} "
            f"| {f'{ratio:,.0f}×' if ratio else '—'} |"
        )
    near, scan = out["create_near_10k"], out["create_near_10k_reference_scan"]
    lines += [
        "",
        f"Creating one volunteer next to 10,000 others within 200 m (each its own transaction, "
        f"{near['creates']} creates): p50 {near['latency']['p50_ms']:.1f} ms, p99 "
        f"{near['latency']['p99_ms']:.1f} ms; the scan registration did before the index, on "
        f"the same data ({scan['creates']} checks, the check alone): p50 "
        f"{scan['latency']['p50_ms']:,.0f} ms, p99 {scan['latency']['p99_ms']:,.0f} ms.",
    ]
    return lines


def loops_table(results: dict[str, Any]) -> list[str]:
    """Full referral loops over HTTP, and where their time and CPU went."""
    found = _measured(results, "loop")
    loops = (found[1] if found else {}).get("loops")
    if not loops:
        return []
    latency = loops["latency"]
    lines = [
        "",
        f"Referral loops (need → matches → refer → accept → start → complete, each an HTTP "
        f"call to the needs service, which reserves and consumes over NATS), "
        f"{loops['concurrency']} clients, PostgreSQL: {loops['loops']:,} loops in "
        f"{loops['seconds']:,.1f} s = **{loops['loops_per_s']:,.1f} loops/s**, p50 "
        f"{latency['p50_ms']:,.0f} ms, p99 {latency['p99_ms']:,.0f} ms; errors: "
        f"{loops['errors'] or 'none'}. Where the time goes:",
        "",
        "| step | p50 ms | p99 ms | share of a loop's time |",
        "|---|---|---|---|",
    ]
    for name, step in loops["steps"].items():
        lines.append(
            f"| {name} | {step['p50_ms']:,.1f} | {step['p99_ms']:,.1f} "
            f"| {step['share_of_time']:.0%} |"
        )
    cpu = ", ".join(f"{name} {ms:,.1f}" for name, ms in loops["cpu_ms_per_loop"].items())
    lines += ["", f"CPU ms per loop, by process: {cpu}."]
    return lines


def tables(results: dict[str, Any]) -> list[str]:
    """Every table of these sections that the results hold."""
    return reservations_table(results) + loops_table(results) + imports_table(results)
