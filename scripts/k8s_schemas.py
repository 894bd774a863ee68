"""Kubernetes JSON schemas for kubeconform, made offline from sources the Go module proxy serves.

    python scripts/k8s_schemas.py OUT_DIR --swagger K8S_ZIP [--crds ZIP:GLOB ...]

kubeconform validates each object against `<kind>-<group>-<version>.json` (core kinds: `<kind>-<version>.json`),
the layout of its `{{ .ResourceKind }}{{ .KindSuffix }}.json` schema location; `scripts/setup.sh` writes
every schema into one folder, and the tests pass `-schema-location 'OUT_DIR/{{ .ResourceKind }}{{ .KindSuffix }}.json'`.

- Built-in kinds come from `api/openapi-spec/swagger.json` of the `k8s.io/kubernetes` module zip (the API
  server's own OpenAPI v2 document): every definition with `x-kubernetes-group-version-kind`, its `$ref`s
  inlined ("standalone"), since kubeconform resolves none across files.
- Custom resources come from CRD YAML inside other module zips (the Spark operator's SparkApplication,
  prometheus-operator's PrometheusRule and ServiceMonitor): each served version's `openAPIV3Schema`.

Both get what kubeconform's published "-standalone-strict" schemas have (the conversions of its
`scripts/openapi2jsonschema.py`, rewritten here for the two inputs): `additionalProperties: false` on every
object that lists its properties (an unknown or misspelt field fails, as `kubectl --validate=strict`
would), int-or-string and quantities accepting both forms, optional fields accepting null (what Helm
renders for an empty value), `apiVersion` and `kind` pinned to the kind's own.
"""

from __future__ import annotations

import argparse
import copy
import fnmatch
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import yaml

INT_OR_STRING = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
QUANTITY = {"oneOf": [{"type": "string"}, {"type": "number"}]}
SPECIAL_DEFINITIONS = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": INT_OR_STRING,
    "io.k8s.apimachinery.pkg.api.resource.Quantity": QUANTITY,
}
DRAFT = "http://json-schema.org/draft-07/schema#"


def file_name(kind: str, group: str, version: str) -> str:
    """kubeconform's `{{ .ResourceKind }}{{ .KindSuffix }}.json`: kind, first label of the group, version."""
    suffix = f"-{group.split('.')[0]}-{version}" if group else f"-{version}"
    return f"{kind.lower()}{suffix.lower()}.json"


def _allow_null(schema: dict) -> dict:
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        return {**schema, "type": [*types, "null"] if "null" not in types else types}
    for key in ("oneOf", "anyOf"):
        if key in schema and {"type": "null"} not in schema[key]:
            return {**schema, key: [*schema[key], {"type": "null"}]}
    return schema


def strict(schema: Any) -> Any:
    """Closed objects, both forms of int-or-string, null for optional fields (recursively)."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items() if k not in ("properties", "nullable")}
    if schema.get("format") == "int-or-string" or schema.get("x-kubernetes-int-or-string"):
        out = {k: v for k, v in out.items() if k not in ("type", "format", "anyOf", "oneOf")} | INT_OR_STRING
    if isinstance(schema.get("properties"), dict):
        required = set(schema.get("required", []))
        out["properties"] = {name: strict(p) if name in required else _allow_null(strict(p))
                             for name, p in schema["properties"].items()}
        if "additionalProperties" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if schema.get("nullable"):
        out = _allow_null(out)
    return out


def inline(schema: Any, definitions: dict[str, dict], seen: tuple[str, ...] = ()) -> Any:
    """`schema` with every `#/definitions/...` reference replaced by its definition; a definition that
    contains itself (JSONSchemaProps) is cut to `{}` (anything) at the second level."""
    if isinstance(schema, list):
        return [inline(s, definitions, seen) for s in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/"):
        name = ref.removeprefix("#/definitions/")
        if name in SPECIAL_DEFINITIONS:
            return {**SPECIAL_DEFINITIONS[name], **{k: v for k, v in schema.items() if k == "description"}}
        if name in seen:
            return {}
        return inline(definitions[name], definitions, (*seen, name))
    return {k: inline(v, definitions, seen) for k, v in schema.items()}


def pin(schema: dict, group: str, version: str, kind: str) -> dict:
    props = schema.setdefault("properties", {})
    api_version = f"{group}/{version}" if group else version
    props["apiVersion"] = {**props.get("apiVersion", {"type": "string"}), "type": "string", "enum": [api_version]}
    props["kind"] = {**props.get("kind", {"type": "string"}), "type": "string", "enum": [kind]}
    schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind"})
    return schema


def from_swagger(swagger: dict) -> dict[str, dict]:
    """{file name: schema} for every kind of the API server's OpenAPI v2 document."""
    definitions = swagger["definitions"]
    out = {}
    for name, definition in definitions.items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            group, version, kind = gvk["group"], gvk["version"], gvk["kind"]
            if kind.endswith("List") or name.startswith("io.k8s.apimachinery.pkg.apis.meta."):
                continue  # lists and meta kinds (Status, WatchEvent, DeleteOptions) are never manifests
            schema = pin(copy.deepcopy(inline(definition, definitions, (name,))), group, version, kind)
            out[file_name(kind, group, version)] = {"$schema": DRAFT, **strict(schema)}
    return out


def from_crd(crd: dict) -> dict[str, dict]:
    """{file name: schema} for each version of a CustomResourceDefinition that carries a schema."""
    spec = crd["spec"]
    group, kind = spec["group"], spec["names"]["kind"]
    out = {}
    for v in spec.get("versions", []):
        schema = (v.get("schema") or {}).get("openAPIV3Schema")
        if schema is None:
            continue
        schema = pin(copy.deepcopy(schema), group, v["name"], kind)
        out[file_name(kind, group, v["name"])] = {"$schema": DRAFT, **strict(schema)}
    return out


class _CrdLoader(yaml.SafeLoader):
    """PyYAML reads a bare `=` (an enum value in some CRDs) as the YAML 1.1 "value" tag: keep it a string."""


_CrdLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def _zip_members(zip_path: Path, pattern: str) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(zip_path) as z:
        names = [n for n in z.namelist() if fnmatch.fnmatch(n.split("@", 1)[-1].split("/", 1)[-1], pattern)]
        return [(n, z.read(n)) for n in sorted(names)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder to write the schemas into (replaced)")
    parser.add_argument("--swagger", type=Path, required=True, help="k8s.io/kubernetes module zip")
    parser.add_argument("--crds", action="append", default=[], metavar="ZIP:GLOB",
                        help="a module zip and a glob of CRD YAML inside it (path after the module root)")
    args = parser.parse_args(argv)

    found = _zip_members(args.swagger, "api/openapi-spec/swagger.json")
    if not found:
        sys.exit(f"{args.swagger}: no api/openapi-spec/swagger.json in it")
    schemas = from_swagger(json.loads(found[0][1]))
    for spec in args.crds:
        zip_path, pattern = spec.split(":", 1)
        members = _zip_members(Path(zip_path), pattern)
        if not members:
            sys.exit(f"{zip_path}: nothing matches {pattern}")
        for _, raw in members:
            for doc in yaml.load_all(raw, Loader=_CrdLoader):
                if doc and doc.get("kind") == "CustomResourceDefinition":
                    schemas.update(from_crd(doc))
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("*.json"):
        old.unlink()
    for name, schema in schemas.items():
        (args.out / name).write_text(json.dumps(schema, separators=(",", ":")))
    print(f"{len(schemas)} schemas written to {args.out}")


if __name__ == "__main__":
    main()
