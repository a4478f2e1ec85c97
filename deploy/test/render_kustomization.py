#!/usr/bin/env python3
"""Renders deploy/k8s like `kubectl kustomize` for machines without kubectl: only the features the kit
uses (resources, namespace, configMapGenerator with disableNameSuffixHash, images); anything else
is refused rather than rendered wrong. run.sh compares it with kubectl's output where both exist.

usage: render_kustomization.py DIR > rendered.yaml"""
import os, sys
import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "configMapGenerator", "generatorOptions", "images"}


def render(directory):
    kustomization = yaml.safe_load(open(os.path.join(directory, "kustomization.yaml")))
    unsupported = set(kustomization) - SUPPORTED
    if unsupported:
        sys.exit(f"{directory}: kustomization fields {sorted(unsupported)} are not supported here; use kubectl kustomize")
    docs = []
    for resource in kustomization.get("resources", []):
        path = os.path.join(directory, resource)
        if os.path.isdir(path):
            docs += render(path)
        else:
            docs += [d for d in yaml.safe_load_all(open(path)) if d]
    options = kustomization.get("generatorOptions", {})
    for generator in kustomization.get("configMapGenerator", []):
        if not options.get("disableNameSuffixHash"):
            sys.exit(f"{directory}: hashed ConfigMap names are not supported here; use kubectl kustomize")
        data = {}
        for entry in generator.get("files", []):
            key, _, path = entry.rpartition("=") if "=" in entry else (os.path.basename(entry), "", entry)
            data[key] = open(os.path.join(directory, path)).read()
        docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]}, "data": data})
    if "namespace" in kustomization:
        for doc in docs:
            if doc["kind"] == "Namespace":
                continue
            doc["metadata"].setdefault("namespace", kustomization["namespace"])
    for image in kustomization.get("images", []):
        for doc in docs:
            pod = doc.get("spec", {}).get("template", {}).get("spec", {})
            for container in pod.get("containers", []) + pod.get("initContainers", []):
                name, _, tag = container["image"].partition(":")
                if name == image["name"]:
                    container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag or 'latest')}"
    return docs


if __name__ == "__main__":
    yaml.safe_dump_all(render(sys.argv[1]), sys.stdout, sort_keys=True)
