"""A small renderer of the kustomize features deploy/k8s uses, so `make test` can render the
overlays without a kustomize binary (none is on PyPI): `resources` (files and directories),
`namespace`, `configMapGenerator` (files, literals; create or replace; no name hash) and
`patches` by path (strategic merge: maps merged, lists of named items merged by name, other
lists replaced). Anything else is refused rather than rendered wrongly. When `kubectl` is at
hand, tests/deploy checks that it renders the same objects."""

from pathlib import Path
from typing import Any

import yaml

Object = dict[str, Any]
_KNOWN = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "configMapGenerator",
    "generatorOptions",
    "patches",
}
_CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume"}


class UnsupportedKustomization(ValueError):
    """The kustomization uses a feature this renderer does not implement."""


def render(folder: Path) -> list[Object]:
    """The objects the kustomization in `folder` produces, in kustomize's resource order."""
    spec: Object = yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))
    unknown = set(spec) - _KNOWN
    if unknown:
        raise UnsupportedKustomization(f"{folder}: unsupported fields {sorted(unknown)}")
    if spec.get("configMapGenerator") and not spec.get("generatorOptions", {}).get(
        "disableNameSuffixHash"
    ):
        inherited = any((folder / r).is_dir() for r in spec.get("resources", []))
        if not inherited:
            raise UnsupportedKustomization(f"{folder}: name hashes are not supported")
    objects: list[Object] = []
    for resource in spec.get("resources", []):
        path = folder / resource
        if path.is_dir():
            objects += render(path)
        else:
            docs = yaml.safe_load_all(path.read_text(encoding="utf-8"))
            objects += [doc for doc in docs if doc]
    for generator in spec.get("configMapGenerator", []):
        _generate(folder, generator, objects)
    for patch in spec.get("patches", []):
        if set(patch) != {"path"}:
            raise UnsupportedKustomization(f"{folder}: only patches by path are supported")
        for doc in yaml.safe_load_all((folder / patch["path"]).read_text(encoding="utf-8")):
            if doc:
                target = _find(objects, doc["kind"], doc["metadata"]["name"])
                objects[objects.index(target)] = merge(target, doc)
    if "namespace" in spec:
        for obj in objects:
            if obj["kind"] not in _CLUSTER_SCOPED:
                obj.setdefault("metadata", {})["namespace"] = spec["namespace"]
    return objects


def _generate(folder: Path, generator: Object, objects: list[Object]) -> None:
    data: dict[str, str] = {}
    for file in generator.get("files", []):
        key, _, source = file.rpartition("=") if "=" in file else ("", "", file)
        data[key or Path(source).name] = (folder / source).read_text(encoding="utf-8")
    for literal in generator.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    behavior = generator.get("behavior", "create")
    config: Object = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": generator["name"]},
        "data": data,
    }
    if behavior == "create":
        objects.append(config)
    elif behavior == "replace":
        old = _find(objects, "ConfigMap", generator["name"])
        objects[objects.index(old)] = {**old, "data": data}
    else:
        raise UnsupportedKustomization(f"{folder}: generator behavior {behavior!r}")


def _find(objects: list[Object], kind: str, name: str) -> Object:
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise UnsupportedKustomization(f"no {kind} named {name} to patch or replace")


def merge(base: Any, patch: Any) -> Any:
    """Strategic merge, simplified: maps key by key, lists of named items by name."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(patch, list) and _named(base) and _named(patch):
        by_name = {item["name"]: item for item in base}
        result = [merge(by_name[i["name"]], i) if i["name"] in by_name else i for i in patch]
        patched = {item["name"] for item in patch}
        return [item for item in base if item["name"] not in patched] + result
    return patch


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, dict) and "name" in i for i in items)
