#!/usr/bin/env python3
"""Writes the JSON schemas DeployManifestsTest validates deploy/kubernetes/*.yaml against, offline.

Input: the Kubernetes OpenAPI (Swagger 2.0) document of one Kubernetes release, such as the
`kubernetes/swagger.json.unprocessed` file that the kubernetes-client/python repository generates from
kubernetes/kubernetes (Apache-2.0). Output: one standalone JSON schema (draft-07) per kind the manifests use,
holding only the definitions that kind reaches, made strict the way kubeconform's "-strict" schemas are: an
object with listed properties accepts no other property, so a misspelt or misplaced field is an error. Types
that the API accepts in two forms become both (IntOrString: string or integer; Quantity: string or number).
Descriptions and formats are dropped (size; formats are not checked by the API server's schema either).

    python3 generate.py SWAGGER.json RELEASE      e.g.  python3 generate.py swagger.json 1.36
"""
import json
import sys

KINDS = [  # (group, version, kind) used by deploy/kubernetes/*.yaml
    ("", "v1", "Namespace"),
    ("", "v1", "ServiceAccount"),
    ("", "v1", "Pod"),
    ("apps", "v1", "DaemonSet"),
    ("scheduling.k8s.io", "v1", "PriorityClass"),
]
DROP = {"description", "format", "x-kubernetes-patch-merge-key", "x-kubernetes-patch-strategy",
        "x-kubernetes-list-map-keys", "x-kubernetes-list-type", "x-kubernetes-map-type", "x-kubernetes-unions",
        "x-kubernetes-group-version-kind", "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource",
        "x-kubernetes-int-or-string", "x-kubernetes-validations"}
TWO_FORMS = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"oneOf": [{"type": "string"}, {"type": "number"}]},
}
PREFIX = "#/definitions/"


def clean(node, names=False):
    """A schema node without the DROP keywords; names=True for a "properties" map, whose keys are field names."""
    if isinstance(node, dict):
        out = {k: clean(v, k == "properties" and not names) for k, v in node.items() if names or k not in DROP}
        if "properties" in out and out.get("type", "object") == "object" and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [clean(v) for v in node]
    return node


def refs(node, found):
    if isinstance(node, dict):
        r = node.get("$ref")
        if isinstance(r, str) and r.startswith(PREFIX):
            found.add(r[len(PREFIX):])
        for v in node.values():
            refs(v, found)
    elif isinstance(node, list):
        for v in node:
            refs(v, found)


def closure(defs, root):
    seen, todo = set(), [root]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        found = set()
        refs(defs[name], found)
        todo.extend(found - seen)
    return seen


def main(swagger_path, release):
    defs = json.load(open(swagger_path))["definitions"]
    for group, version, kind in KINDS:
        root = next(n for n, d in defs.items() for gvk in d.get("x-kubernetes-group-version-kind", [])
                    if (gvk["group"], gvk["version"], gvk["kind"]) == (group, version, kind))
        api_version = f"{group}/{version}" if group else version
        needed = closure(defs, root)
        out_defs = {n: TWO_FORMS.get(n) or clean(defs[n]) for n in sorted(needed)}
        top = dict(out_defs[root])
        props = dict(top["properties"])
        props["apiVersion"] = {"type": "string", "enum": [api_version]}
        props["kind"] = {"type": "string", "enum": [kind]}
        top["properties"] = props
        top["required"] = sorted(set(top.get("required", [])) | {"apiVersion", "kind"})
        schema = {"$schema": "http://json-schema.org/draft-07/schema#",
                  "$comment": f"Kubernetes {release} {api_version} {kind}, strict; written by generate.py",
                  **top, "definitions": out_defs}
        name = f"{kind.lower()}-{(group.split('.')[0] + '-') if group else ''}{version}.json"
        with open(name, "w") as f:
            json.dump(schema, f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"{name}: {len(needed)} definitions")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
