#!/usr/bin/env python3
"""Validates every Kubernetes manifest under deploy/ against the Kubernetes schemas, offline.

Run by scripts/test.sh with the project's .venv (kubernetes-validate, pinned in
scripts/ci-requirements.txt). What it checks, so that a typo fails the build:

- every YAML document in deploy/ (kustomization.yaml files and deploy/{prometheus,grafana,compose}
  aside) and everything
  `kubectl kustomize` renders from deploy/, deploy/keda/ and deploy/replicated/, strictly (unknown fields are
  errors) against the schemas of the oldest and newest Kubernetes versions named below;
- a kind without a schema is an error, not kubernetes-validate's warning: the only custom
  resource here, KEDA's ScaledObject, is checked against scripts/schemas/ (written from
  KEDA's documented spec), and its HPA `behavior` against the Kubernetes HPA schema.

Usage: scripts/validate-deploy.py [KUBECTL]
"""

import json
import pathlib
import subprocess
import sys

import jsonschema
import yaml
from kubernetes_validate import utils

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
# Not Kubernetes objects: Prometheus and Grafana files and the docker-compose demo's config
# (checked by promtool, json.tool and check-jsonschema in scripts/test.sh).
NOT_KUBERNETES = {"prometheus", "grafana", "compose"}
VERSIONS = ["1.28.0", utils.latest_version()]
CUSTOM = {
    ("keda.sh/v1alpha1", "ScaledObject"): ROOT / "scripts/schemas/scaledobject-keda-v1alpha1.json",
}


def documents(text):
    return [d for d in yaml.safe_load_all(text) if d]


def check_builtin(resource, where):
    failures = []
    for version in VERSIONS:
        try:
            utils.validate(resource, version, strict=True)
        except utils.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            failures.append(f"{where}: against Kubernetes {version}: {path}: {e.message}")
        except utils.SchemaNotFoundError:
            failures.append(
                f"{where}: no schema for {resource.get('apiVersion')} {resource.get('kind')} "
                f"in Kubernetes {version} (a typo in apiVersion or kind?)"
            )
    return failures


def check_custom(resource, where, schema_file):
    schema = json.loads(schema_file.read_text())
    failures = [
        f"{where}: {'.'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in jsonschema.Draft202012Validator(schema).iter_errors(resource)
    ]
    behavior = (
        resource.get("spec", {})
        .get("advanced", {})
        .get("horizontalPodAutoscalerConfig", {})
        .get("behavior")
    )
    if behavior is not None:
        hpa = {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "behavior-check"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"},
                "maxReplicas": 1,
                "behavior": behavior,
            },
        }
        failures += check_builtin(hpa, f"{where} (advanced.horizontalPodAutoscalerConfig)")
    return failures


def check(resource, where):
    if not isinstance(resource, dict) or "kind" not in resource or "apiVersion" not in resource:
        return [f"{where}: not a Kubernetes object (no apiVersion/kind)"]
    where = f"{where}: {resource['kind']}/{resource.get('metadata', {}).get('name', '?')}"
    custom = CUSTOM.get((resource["apiVersion"], resource["kind"]))
    if custom:
        return check_custom(resource, where, custom)
    return check_builtin(resource, where)


def main():
    kubectl = sys.argv[1] if len(sys.argv) > 1 else "kubectl"
    failures, count = [], 0
    for path in sorted(DEPLOY.rglob("*.y*ml")):
        if path.name == "kustomization.yaml":
            continue
        if path.relative_to(DEPLOY).parts[0] in NOT_KUBERNETES:
            continue
        for resource in documents(path.read_text()):
            count += 1
            failures += check(resource, str(path.relative_to(ROOT)))
    for overlay in ["deploy", "deploy/keda", "deploy/replicated"]:
        built = subprocess.run(
            [kubectl, "kustomize", str(ROOT / overlay)], capture_output=True, text=True
        )
        if built.returncode != 0:
            failures.append(f"kubectl kustomize {overlay} failed: {built.stderr.strip()}")
            continue
        for resource in documents(built.stdout):
            count += 1
            failures += check(resource, f"kustomize {overlay}")
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    print(
        f"validate-deploy: {count} manifests checked against Kubernetes "
        f"{' and '.join(VERSIONS)}: {len(failures)} problems"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
