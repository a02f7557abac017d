"""The deployment files in deploy/ are checked here, since no container engine or cluster runs in CI.

- Every Kubernetes manifest validates (strict: unknown fields fail) against a pinned Kubernetes version.
- Every role of ``ewarn.roles.ROLES`` runs as exactly ``ewarn run <role>`` in compose and in Kubernetes.
- Every ``EWARN_*`` name anywhere in deploy/ is a real field of ``ewarn.settings.Settings`` (nested via
  ``__``), and the values given parse into ``Settings``.
- No secret value other than an obvious placeholder is committed.
- Compose parses, ``depends_on`` targets exist, published ports bind to loopback only.

Each check is a function returning a list of problems; the negative tests feed it broken input and expect
the problem to be reported, so a check that silently passes everything fails here.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import os
import re
import shlex
import typing
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer.main
import yaml
from kubernetes_validate import utils as kv
from pydantic import BaseModel, SecretStr

from ewarn.bus.kafka import topic_configs
from ewarn.bus.topics import Topics
from ewarn.cli import app as cli_app
from ewarn.roles import ROLES
from ewarn.settings import KafkaSettings, Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE_DIR = DEPLOY / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
K8S_DIR = DEPLOY / "kubernetes"

# Kubernetes version the manifests must be valid for (a supported minor; kubernetes-validate bundles it).
K8S_VERSION = "1.34.0"
NAMESPACE = "ewarn"
# Local files holding real secrets; git ignores them and the checks never read them.
LOCAL_SECRET_FILES = {".env", "ewarn.env"}
# Environment variables read by ewarn that are not Settings fields.
EXTRA_EWARN_VARS = {"EWARN_CONFIG_FILE"}
SCALED_ROLES = {"correlate": 2, "dispatch": 2}
ALLOWED_EGRESS = {
    ("UDP", 53),
    ("TCP", 53),
    ("TCP", 9092),
    ("TCP", 9093),
    ("TCP", 5432),
    ("TCP", 443),
    ("TCP", 25),
    ("TCP", 465),
    ("TCP", 587),
}
WORKLOAD_KINDS = {"Deployment", "Job"}
# Ranges HTTPS egress (webhooks) must never reach: private, link-local (cloud metadata) and unique-local.
PRIVATE_RANGES = {
    4: ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"),
    6: ("fc00::/7", "fe80::/10"),
}
EWARN_VAR = re.compile(r"\bEWARN_[A-Z0-9_]*[A-Z0-9]\b")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY\b|KEY$|CREDENTIAL|DATABASE_URL", re.IGNORECASE)
PLACEHOLDER = re.compile(
    r"^(|change[-_]?me|CHANGE_ME|<[^<>]+>|\$\{[A-Za-z_][A-Za-z0-9_]*(:?\?[^}]*)?\})$", re.IGNORECASE
)


# ---------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------


def load_documents(path: Path) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    for d in docs:
        assert isinstance(d, dict), f"{path}: a document is not a mapping"
    return docs


def k8s_files() -> list[Path]:
    return sorted(p for p in K8S_DIR.glob("*.yaml") if p.name != "kustomization.yaml")


def k8s_resources() -> list[dict[str, Any]]:
    return [doc for path in k8s_files() for doc in load_documents(path)]


def by_kind(resources: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in resources if r.get("kind") == kind]


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


def read_env_file(path: Path, *, commented: bool = False) -> dict[str, str]:
    """KEY=VALUE lines of a dotenv file; with ``commented``, also ``# KEY=VALUE`` examples."""
    pattern = re.compile(r"^(#\s*)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        m = pattern.match(line.strip())
        if m and (commented or not m.group(1)):
            found[m.group(2)] = m.group(3).strip().strip("'\"")
    return found


def deploy_text_files() -> list[Path]:
    """Every file of ours under deploy/ (not someone else's deploy/local, not local secret files)."""
    files = [DOCKERFILE, DEPLOY / "README.md"]
    for folder in (COMPOSE_DIR, K8S_DIR):
        files += [p for p in folder.rglob("*") if p.is_file() and p.name not in LOCAL_SECRET_FILES]
    return sorted(files)


# ---------------------------------------------------------------------------------------------------------
# Settings: the EWARN_* names that exist
# ---------------------------------------------------------------------------------------------------------


def _model_in(annotation: Any) -> type[BaseModel] | None:
    candidates = [annotation, *typing.get_args(annotation)]
    for c in candidates:
        if isinstance(c, type) and issubclass(c, BaseModel):
            return c
    return None


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


def settings_env_names(model: type[BaseModel] = Settings, prefix: str = "EWARN_") -> dict[str, bool]:
    """Every leaf setting as its environment variable name, mapped to whether it holds a secret."""
    names: dict[str, bool] = {}
    for name, field in model.model_fields.items():
        env = f"{prefix}{name.upper()}"
        sub = _model_in(field.annotation)
        if sub is not None:
            names.update(settings_env_names(sub, f"{env}__"))
        else:
            names[env] = _is_secret(field.annotation) or name == "database_url"
    return names


def unknown_ewarn_vars(names: Iterable[str]) -> list[str]:
    known = settings_env_names().keys() | EXTRA_EWARN_VARS
    return sorted(f"{n} is not a setting of ewarn.settings.Settings" for n in set(names) - known)


def settings_from_env(env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key in list(os.environ):
        if key.startswith("EWARN_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


# ---------------------------------------------------------------------------------------------------------
# Kubernetes checks
# ---------------------------------------------------------------------------------------------------------


def validate_k8s(resource: Mapping[str, Any], version: str = K8S_VERSION) -> list[str]:
    """Schema problems of one manifest against the pinned Kubernetes version, strict (no unknown fields)."""
    name = f"{resource.get('kind')}/{resource.get('metadata', {}).get('name')}"
    try:
        validated = kv.validate(dict(resource), version, strict=True)
    except kv.ValidationError as e:
        path = ".".join(str(p) for p in e.path)
        return [f"{name}: {path}: {e.message}"]
    except (kv.SchemaNotFoundError, kv.InvalidSchemaError) as e:
        return [f"{name}: {e.message}"]
    except (KeyError, TypeError) as e:
        return [f"{name}: not a Kubernetes object ({e!r})"]
    if validated != kv.major_minor(version):
        return [f"{name}: validated against {validated}, not the pinned {version}"]
    return []


def pod_spec(workload: Mapping[str, Any]) -> dict[str, Any]:
    return dict(workload["spec"]["template"]["spec"])


def pod_labels(workload: Mapping[str, Any]) -> dict[str, str]:
    return dict(workload["spec"]["template"]["metadata"].get("labels", {}))


def selects(match_labels: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(match_labels) and all(labels.get(k) == v for k, v in match_labels.items())


def workload_problems(workload: Mapping[str, Any]) -> list[str]:
    """Hardening and wiring of a Deployment or Job's pod template."""
    name = f"{workload['kind']}/{workload['metadata']['name']}"
    spec = pod_spec(workload)
    labels = pod_labels(workload)
    problems: list[str] = []
    if labels.get("app.kubernetes.io/part-of") != "ewarn":
        problems.append(
            f"{name}: pods lack app.kubernetes.io/part-of=ewarn (the NetworkPolicy selects on it)"
        )
    if workload["kind"] == "Deployment" and not selects(workload["spec"]["selector"]["matchLabels"], labels):
        problems.append(f"{name}: selector does not match the pod template labels")
    pod_sc = spec.get("securityContext", {})
    if pod_sc.get("runAsNonRoot") is not True:
        problems.append(f"{name}: pod securityContext.runAsNonRoot is not true")
    if pod_sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append(f"{name}: pod seccompProfile is not RuntimeDefault")
    if spec.get("automountServiceAccountToken") is not False:
        problems.append(f"{name}: service account token is mounted")
    for c in spec.get("containers", []):
        cname = f"{name}/{c['name']}"
        sc = c.get("securityContext", {})
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{cname}: readOnlyRootFilesystem is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{cname}: allowPrivilegeEscalation is not false")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            problems.append(f"{cname}: capabilities are not dropped")
        res = c.get("resources", {})
        for part in ("requests", "limits"):
            missing = {"cpu", "memory"} - set(res.get(part, {}))
            if missing:
                problems.append(f"{cname}: resources.{part} lacks {sorted(missing)}")
        image = c.get("image", "")
        if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
            problems.append(f"{cname}: image {image!r} has no pinned tag")
        if "command" in c:
            problems.append(f"{cname}: overrides the image's ENTRYPOINT (ewarn)")
        if not any(m.get("mountPath") == "/tmp" for m in c.get("volumeMounts", [])):
            problems.append(f"{cname}: read-only root filesystem but no writable /tmp")
    return problems


def container_argv(container: Mapping[str, Any], entrypoint: list[str]) -> list[str]:
    return [*(container.get("command") or entrypoint), *(container.get("args") or [])]


def role_of(argv: list[str]) -> str | None:
    """The role of ``ewarn run ROLE``; None for any other command line."""
    if len(argv) == 3 and argv[:2] == ["ewarn", "run"]:
        return argv[2]
    return None


def role_deployment_problems(resources: list[dict[str, Any]], entrypoint: list[str]) -> list[str]:
    problems: list[str] = []
    seen: dict[str, list[str]] = {}
    for d in by_kind(resources, "Deployment"):
        containers = pod_spec(d)["containers"]
        if len(containers) != 1:
            problems.append(f"Deployment/{d['metadata']['name']}: expected one container")
            continue
        argv = container_argv(containers[0], entrypoint)
        role = role_of(argv)
        if role is None or role not in ROLES:
            problems.append(f"Deployment/{d['metadata']['name']}: runs {shlex.join(argv)!r}, not a role")
            continue
        seen.setdefault(role, []).append(d["metadata"]["name"])
        if pod_labels(d).get("app.kubernetes.io/component") != role:
            problems.append(f"Deployment/{d['metadata']['name']}: component label is not {role!r}")
        want = SCALED_ROLES.get(role)
        if want is not None and d["spec"].get("replicas") != want:
            problems.append(
                f"Deployment/{d['metadata']['name']}: replicas {d['spec'].get('replicas')} != {want}"
            )
    for role in ROLES:
        if len(seen.get(role, [])) != 1:
            problems.append(f"role {role}: {len(seen.get(role, []))} Deployments, expected exactly one")
    return problems


def reference_problems(resources: list[dict[str, Any]]) -> list[str]:
    """ConfigMaps, Secret keys, service accounts, Service and PDB selectors point at things that exist."""
    problems: list[str] = []
    configmaps = {r["metadata"]["name"] for r in by_kind(resources, "ConfigMap")}
    secrets = {
        r["metadata"]["name"]: set(r.get("stringData", {})) | set(r.get("data", {}))
        for r in by_kind(resources, "Secret")
    }
    accounts = {r["metadata"]["name"] for r in by_kind(resources, "ServiceAccount")}
    workloads = [r for r in resources if r.get("kind") in WORKLOAD_KINDS]
    for w in workloads:
        name = f"{w['kind']}/{w['metadata']['name']}"
        spec = pod_spec(w)
        if spec.get("serviceAccountName", "default") not in accounts:
            problems.append(f"{name}: service account {spec.get('serviceAccountName')!r} is not defined")
        for c in spec["containers"]:
            for src in c.get("envFrom", []):
                ref = src.get("configMapRef", {}).get("name")
                if ref is not None and ref not in configmaps:
                    problems.append(f"{name}: ConfigMap {ref!r} is not defined")
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref is not None and ref.get("key") not in secrets.get(ref["name"], set()):
                    problems.append(
                        f"{name}: Secret key {ref['name']}/{ref.get('key')} is not in the template"
                    )
    deployments = by_kind(resources, "Deployment")
    for svc in by_kind(resources, "Service"):
        targets = [d for d in deployments if selects(svc["spec"]["selector"], pod_labels(d))]
        if not targets:
            problems.append(f"Service/{svc['metadata']['name']}: selects no Deployment")
        port_names = {
            p.get("name") for d in targets for c in pod_spec(d)["containers"] for p in c.get("ports", [])
        }
        port_numbers = {
            p["containerPort"] for d in targets for c in pod_spec(d)["containers"] for p in c.get("ports", [])
        }
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            if target not in port_names and target not in port_numbers:
                problems.append(
                    f"Service/{svc['metadata']['name']}: targetPort {target!r} is no container port"
                )
    for pdb in by_kind(resources, "PodDisruptionBudget"):
        targets = [d for d in deployments if selects(pdb["spec"]["selector"]["matchLabels"], pod_labels(d))]
        if len(targets) != 1:
            problems.append(
                f"PodDisruptionBudget/{pdb['metadata']['name']}: selects {len(targets)} Deployments"
            )
            continue
        if pdb["spec"].get("minAvailable", 0) >= targets[0]["spec"].get("replicas", 1):
            problems.append(f"PodDisruptionBudget/{pdb['metadata']['name']}: minAvailable blocks every drain")
    for r in resources:
        if r["kind"] != "Namespace" and r["metadata"].get("namespace") != NAMESPACE:
            problems.append(f"{r['kind']}/{r['metadata']['name']}: namespace is not {NAMESPACE!r}")
    return problems


def network_problems(resources: list[dict[str, Any]]) -> list[str]:
    """Every workload is under an egress policy opening only the allowed ports; HTTPS skips private ranges."""
    problems: list[str] = []
    policies = by_kind(resources, "NetworkPolicy")
    egress_policies = [p for p in policies if "Egress" in p["spec"].get("policyTypes", [])]
    for w in (r for r in resources if r.get("kind") in WORKLOAD_KINDS):
        if not any(
            selects(p["spec"]["podSelector"].get("matchLabels", {}), pod_labels(w)) for p in egress_policies
        ):
            problems.append(f"{w['kind']}/{w['metadata']['name']}: no egress NetworkPolicy selects its pods")
    opened: set[tuple[str, int]] = set()
    for p in egress_policies:
        for rule in p["spec"].get("egress", []):
            ports = rule.get("ports")
            if not ports:
                problems.append(f"NetworkPolicy/{p['metadata']['name']}: an egress rule opens every port")
                continue
            rule_ports = {(x.get("protocol", "TCP"), x["port"]) for x in ports}
            opened |= rule_ports
            if ("TCP", 443) in rule_ports:
                problems += _https_rule_problems(p["metadata"]["name"], rule)
    for extra in sorted(opened - ALLOWED_EGRESS):
        problems.append(
            f"egress to {extra[0]}/{extra[1]} is not allowed (Kafka, PostgreSQL, DNS, HTTPS, SMTP)"
        )
    for need in (("UDP", 53), ("TCP", 9092), ("TCP", 5432), ("TCP", 443), ("TCP", 587)):
        if need not in opened:
            problems.append(f"egress to {need[0]}/{need[1]} is missing")
    return problems


METRICS_PATH = "/metrics"


def selector_selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A label selector (``matchLabels`` and ``In``/``NotIn``/``Exists`` ``matchExpressions``) matches ``labels``."""
    if not all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        value = labels.get(expr["key"])
        op = expr["operator"]
        if (
            (op == "In" and value not in expr["values"])
            or (op == "NotIn" and value in expr["values"])
            or (op == "Exists" and value is None)
            or (op == "DoesNotExist" and value is not None)
        ):
            return False
    return bool(selector.get("matchLabels") or selector.get("matchExpressions"))


def metrics_problems(resources: list[dict[str, Any]]) -> list[str]:
    """Every worker role serves metrics on EWARN_METRICS__PORT, on the pod's interfaces, as a named container
    port, announced by the Prometheus scrape annotations, and admitted on that port by an ingress policy."""
    problems: list[str] = []
    ingress = [
        p for p in by_kind(resources, "NetworkPolicy") if "Ingress" in p["spec"].get("policyTypes", [])
    ]
    for d in by_kind(resources, "Deployment"):
        role = pod_labels(d).get("app.kubernetes.io/component")
        if role == "api" or role not in ROLES:
            continue
        name = f"Deployment/{d['metadata']['name']}"
        (container,) = pod_spec(d)["containers"]
        env = {e["name"]: str(e.get("value")) for e in container.get("env", []) if "value" in e}
        port_text = env.get("EWARN_METRICS__PORT")
        if port_text is None or not port_text.isdigit():
            problems.append(f"{name}: EWARN_METRICS__PORT is not set to a port")
            continue
        port = int(port_text)
        if env.get("EWARN_METRICS__HOST") != "0.0.0.0":
            problems.append(f"{name}: metrics bound to loopback (EWARN_METRICS__HOST is not 0.0.0.0)")
        if {"name": "metrics", "containerPort": port, "protocol": "TCP"} not in container.get("ports", []):
            problems.append(f"{name}: no container port 'metrics' on {port}")
        notes = d["spec"]["template"]["metadata"].get("annotations", {})
        wanted = {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(port),
            "prometheus.io/path": METRICS_PATH,
        }
        for key, value in wanted.items():
            if notes.get(key) != value:
                problems.append(f"{name}: annotation {key} is {notes.get(key)!r}, not {value!r}")
        admitted = any(
            selector_selects(p["spec"]["podSelector"], pod_labels(d))
            and any(
                {"protocol": "TCP", "port": port} in rule.get("ports", []) and rule.get("from")
                for rule in p["spec"].get("ingress", [])
            )
            for p in ingress
        )
        if not admitted:
            problems.append(f"{name}: no ingress NetworkPolicy admits Prometheus on {port}")
    return problems


def _https_rule_problems(policy: str, rule: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    blocks = [t["ipBlock"] for t in rule.get("to", []) if "ipBlock" in t]
    if not blocks or len(blocks) != len(rule.get("to", [])):
        return [f"NetworkPolicy/{policy}: HTTPS egress must be limited by ipBlock"]
    for block in blocks:
        cidr = ipaddress.ip_network(block["cidr"])
        excepted = [ipaddress.ip_network(e) for e in block.get("except", [])]
        for net in map(ipaddress.ip_network, PRIVATE_RANGES[cidr.version]):
            if net.subnet_of(cidr) and not any(net.subnet_of(e) for e in excepted):  # type: ignore[arg-type]
                problems.append(f"NetworkPolicy/{policy}: HTTPS egress reaches private range {net}")
    return problems


# ---------------------------------------------------------------------------------------------------------
# Dockerfile
# ---------------------------------------------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def dockerfile_entrypoint() -> list[str]:
    entry = [rest for op, rest in dockerfile_instructions(DOCKERFILE.read_text()) if op == "ENTRYPOINT"]
    assert len(entry) == 1, "deploy/Dockerfile needs exactly one ENTRYPOINT"
    parsed = yaml.safe_load(entry[0])  # the exec form is a JSON array
    assert isinstance(parsed, list)
    return [str(x) for x in parsed]


def dockerfile_user() -> str:
    users = [rest for op, rest in dockerfile_instructions(DOCKERFILE.read_text()) if op == "USER"]
    return users[-1] if users else "root"


# ---------------------------------------------------------------------------------------------------------
# Compose
# ---------------------------------------------------------------------------------------------------------

_INTERPOLATION = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}``, ``${NAME:?error}`` and ``$$`` (enough for our file)."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group("name") or m.group("bare")
        op, arg = m.group("op"), m.group("arg") or ""
        have = env.get(name)
        unset = have is None or (have == "" and op is not None and op.startswith(":"))
        if op in (":-", "-") and unset:
            return arg
        if op in (":?", "?") and unset:
            raise ValueError(f"${{{name}}} is required: {arg}")
        return have or ""

    return _INTERPOLATION.sub(sub, value)


def interpolation_refs(text: str) -> dict[str, bool]:
    """Names referenced as ``${NAME...}``, mapped to whether compose requires them (``?``)."""
    refs: dict[str, bool] = {}
    for m in _INTERPOLATION.finditer(text):
        name = m.group("name") or m.group("bare")
        if name:
            refs[name] = refs.get(name, False) or bool(m.group("op") and "?" in m.group("op"))
    return refs


def service_env(service: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {str(k): interpolate(str(v), env) for k, v in raw.items()}


def service_command(service: Mapping[str, Any]) -> list[str]:
    cmd = service.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(x) for x in cmd]


def replicas(service: Mapping[str, Any]) -> int:
    return int((service.get("deploy") or {}).get("replicas", service.get("scale", 1)))


def published_ports(service: Mapping[str, Any]) -> Iterator[tuple[str, int, int]]:
    """(host ip, host port, container port) of every published port, short or long syntax."""
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            yield str(port.get("host_ip", "0.0.0.0")), int(port["published"]), int(port["target"])
            continue
        parts = str(port).split("/")[0].split(":")
        if len(parts) == 3:
            yield parts[0], int(parts[1]), int(parts[2])
        elif len(parts) == 2:
            yield "0.0.0.0", int(parts[0]), int(parts[1])
        else:
            yield "0.0.0.0", 0, int(parts[0])  # ephemeral host port on every interface


def compose_problems(compose: Mapping[str, Any], env: Mapping[str, str], entrypoint: list[str]) -> list[str]:
    problems: list[str] = []
    services: dict[str, Any] = dict(compose.get("services") or {})
    if not services:
        return ["compose: no services"]
    ewarn_image = next(
        (s.get("image") for s in services.values() if s.get("command") == ["db", "upgrade"]), None
    )
    roles_seen: dict[str, list[str]] = {}
    host_ports: dict[tuple[str, int], str] = {}
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        for target, cond in deps.items() if isinstance(deps, dict) else ((d, None) for d in deps):
            if target not in services:
                problems.append(f"{name}: depends_on unknown service {target!r}")
                continue
            condition = (cond or {}).get("condition", "service_started")
            if condition == "service_healthy" and not services[target].get("healthcheck"):
                problems.append(f"{name}: waits for {target} to be healthy, but {target} has no healthcheck")
            if condition == "service_completed_successfully" and str(services[target].get("restart")) != "no":
                problems.append(f"{name}: waits for one-shot {target}, which restarts")
        if svc.get("image") == ewarn_image:
            if "entrypoint" in svc:
                problems.append(f"{name}: overrides the image's ENTRYPOINT (ewarn)")
            argv = [*entrypoint, *service_command(svc)]
            if argv[:2] == ["ewarn", "run"]:
                role = role_of(argv)
                if role not in ROLES:
                    problems.append(f"{name}: runs {shlex.join(argv)!r}, not a role of {ROLES}")
                else:
                    roles_seen.setdefault(role, []).append(name)
                    want = SCALED_ROLES.get(role)
                    if want is not None and replicas(svc) != want:
                        problems.append(f"{name}: {replicas(svc)} replicas, expected {want}")
                    waits_for = deps if isinstance(deps, dict) else {}
                    cond = (waits_for.get("migrate") or {}).get("condition")
                    if cond != "service_completed_successfully":
                        problems.append(f"{name}: does not wait for the migration to complete")
        for host_ip, host_port, target in published_ports(svc):
            if replicas(svc) > 1:
                problems.append(f"{name}: publishes port {host_port} but runs {replicas(svc)} replicas")
            if not ipaddress.ip_address(host_ip).is_loopback:
                problems.append(f"{name}: publishes {host_port} on {host_ip}, not on loopback")
            if host_port and (host_ip, host_port) in host_ports:
                problems.append(
                    f"{name}: host port {host_port} also published by {host_ports[(host_ip, host_port)]}"
                )
            host_ports[(host_ip, host_port)] = name
            senv = service_env(svc, env)
            if "EWARN_API_PORT" in senv and target != int(senv["EWARN_API_PORT"]):
                problems.append(
                    f"{name}: publishes container port {target}, the API listens on EWARN_API_PORT"
                )
            if "EWARN_API_PORT" in senv and senv.get("EWARN_API_HOST") not in ("0.0.0.0", "::"):
                problems.append(
                    f"{name}: publishes the API but EWARN_API_HOST does not listen on all interfaces"
                )
    for role in ROLES:
        if len(roles_seen.get(role, [])) != 1:
            problems.append(f"role {role}: {len(roles_seen.get(role, []))} services run it, expected one")
    return problems


# ---------------------------------------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------------------------------------


def is_secret_name(name: str) -> bool:
    return settings_env_names().get(name, False) or bool(SECRET_NAME.search(name))


def secret_problems(items: Iterable[tuple[str, str, str]]) -> list[str]:
    """(where, name, value) triples: every secret-looking value must be an obvious placeholder."""
    problems: list[str] = []
    for where, name, value in items:
        if "PRIVATE KEY-----" in value:
            problems.append(f"{where}: {name} holds a private key")
        if not is_secret_name(name):
            continue
        value = re.sub(r"\$\{[^}]*\}", "CHANGE_ME", value)  # compose interpolation: filled in from .env
        if "://" in value:
            password = urlsplit(value).password
            if password is not None and not PLACEHOLDER.match(password):
                problems.append(f"{where}: {name} embeds a password that is no placeholder")
        elif not PLACEHOLDER.match(value):
            problems.append(f"{where}: {name}={value!r} is no placeholder")
    return problems


def committed_secret_items() -> list[tuple[str, str, str]]:
    items: list[tuple[str, str, str]] = []
    for path in k8s_files():
        for r in load_documents(path):
            where = f"{path.name}:{r['kind']}/{r['metadata']['name']}"
            if r["kind"] == "Secret":
                items += [(where, k, str(v)) for k, v in r.get("stringData", {}).items()]
                items += [(where, k, base64.b64decode(v).decode()) for k, v in r.get("data", {}).items()]
            elif r["kind"] == "ConfigMap":
                # A secret-looking key in a ConfigMap is a problem whatever its value.
                items += [(where, k, f"{v}-in-a-configmap") for k, v in r.get("data", {}).items()]
            elif r["kind"] in WORKLOAD_KINDS:
                for c in pod_spec(r)["containers"]:
                    items += [(where, e["name"], str(e["value"])) for e in c.get("env", []) if "value" in e]
    compose = load_compose()
    for name, svc in compose["services"].items():
        raw = svc.get("environment") or {}
        items += [(f"compose.yaml:{name}", str(k), str(v)) for k, v in raw.items()]
    for path in COMPOSE_DIR.glob("*.example"):
        items += [(path.name, k, v) for k, v in read_env_file(path, commented=True).items()]
    for path in deploy_text_files():
        text = path.read_text()
        if "PRIVATE KEY-----" in text:
            items.append((path.name, "file", text))
    return items


# =========================================================================================================
# Tests on the real files
# =========================================================================================================


@pytest.mark.parametrize("path", k8s_files(), ids=lambda p: p.name)
def test_kubernetes_manifest_validates_strictly(path: Path) -> None:
    docs = load_documents(path)
    assert docs, f"{path.name} is empty"
    problems = [p for doc in docs for p in validate_k8s(doc)]
    assert problems == []


def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    listed = list(kustomization["resources"])
    assert len(listed) == len(set(listed))
    expected = {p.name for p in k8s_files() if not p.name.endswith(".example.yaml")}
    assert set(listed) == expected
    assert kustomization["namespace"] == NAMESPACE
    assert {i["name"] for i in kustomization.get("images", [])} <= {
        c["image"].split(":")[0]
        for r in k8s_resources()
        if r["kind"] in WORKLOAD_KINDS
        for c in pod_spec(r)["containers"]
    }


def test_kubernetes_has_one_deployment_per_role_running_ewarn_run_role() -> None:
    assert role_deployment_problems(k8s_resources(), dockerfile_entrypoint()) == []


def test_kubernetes_workloads_are_hardened_and_wired() -> None:
    resources = k8s_resources()
    problems = [p for r in resources if r["kind"] in WORKLOAD_KINDS for p in workload_problems(r)]
    problems += reference_problems(resources)
    assert problems == []
    uid = dockerfile_user().split(":")[0]
    for r in resources:
        if r["kind"] in WORKLOAD_KINDS:
            assert str(pod_spec(r)["securityContext"]["runAsUser"]) == uid, "pods run as the image's user"
    migrations = [
        r
        for r in by_kind(resources, "Job")
        if container_argv(pod_spec(r)["containers"][0], ["ewarn"]) == ["ewarn", "db", "upgrade"]
    ]
    assert len(migrations) == 1, "a Job running `ewarn db upgrade`"
    pdb_roles = {
        pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
        for pdb in by_kind(resources, "PodDisruptionBudget")
    }
    assert pdb_roles == set(SCALED_ROLES)


def test_kubernetes_api_is_probed_on_healthz_and_served(monkeypatch: pytest.MonkeyPatch) -> None:
    resources = k8s_resources()
    (config,) = by_kind(resources, "ConfigMap")
    settings = settings_from_env(config["data"], monkeypatch)
    (api,) = [
        d for d in by_kind(resources, "Deployment") if pod_labels(d)["app.kubernetes.io/component"] == "api"
    ]
    (container,) = pod_spec(api)["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert settings.api_port in ports.values()
    assert settings.api_host == "0.0.0.0"
    for probe in ("readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/healthz"
        assert ports.get(get["port"], get["port"]) == settings.api_port
    for d in by_kind(resources, "Deployment"):
        if d is not api:
            ports = [p["name"] for p in pod_spec(d)["containers"][0].get("ports", [])]
            assert ports == ["metrics"], "only the api serves HTTP; the other roles serve metrics alone"
    (svc,) = by_kind(resources, "Service")
    assert selects(svc["spec"]["selector"], pod_labels(api))


def test_kubernetes_worker_roles_are_scraped_by_prometheus(monkeypatch: pytest.MonkeyPatch) -> None:
    resources = k8s_resources()
    assert metrics_problems(resources) == []
    (config,) = by_kind(resources, "ConfigMap")
    for d in by_kind(resources, "Deployment"):
        if pod_labels(d)["app.kubernetes.io/component"] == "api":
            assert "prometheus.io/scrape" not in d["spec"]["template"]["metadata"].get("annotations", {}), (
                "the api's /metrics needs an operator key: scraped by the ewarn-api job, not by annotation"
            )
            continue
        (container,) = pod_spec(d)["containers"]
        env = {e["name"]: str(e["value"]) for e in container["env"] if "value" in e}
        settings = settings_from_env({**config["data"], **env}, monkeypatch)
        assert (settings.metrics.port, settings.metrics.host) == (9464, "0.0.0.0")
    scrape = yaml.safe_load((DEPLOY / "monitoring" / "prometheus.yml").read_text())
    pods = next(job for job in scrape["scrape_configs"] if job["job_name"] == "ewarn-pods")
    relabel = {tuple(r["source_labels"]): r for r in pods["relabel_configs"]}
    assert relabel[("__meta_kubernetes_pod_annotation_prometheus_io_scrape",)]["action"] == "keep"
    assert ("__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port") in relabel


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        pytest.param("no-annotation", "annotation prometheus.io/scrape", id="not-announced"),
        pytest.param("wrong-port-annotation", "annotation prometheus.io/port", id="announced-elsewhere"),
        pytest.param("loopback", "bound to loopback", id="loopback-only"),
        pytest.param("no-port", "no container port", id="no-container-port"),
        pytest.param("no-policy", "no ingress NetworkPolicy", id="not-admitted"),
        pytest.param("no-env", "EWARN_METRICS__PORT is not set", id="metrics-off"),
    ],
)
def test_metrics_check_rejects_unscrapable_roles(breakage: str, expected: str) -> None:
    resources = copy.deepcopy(k8s_resources())
    (d,) = [
        r
        for r in by_kind(resources, "Deployment")
        if pod_labels(r)["app.kubernetes.io/component"] == "dispatch"
    ]
    template = d["spec"]["template"]
    (container,) = template["spec"]["containers"]
    if breakage == "no-annotation":
        del template["metadata"]["annotations"]["prometheus.io/scrape"]
    elif breakage == "wrong-port-annotation":
        template["metadata"]["annotations"]["prometheus.io/port"] = "8080"
    elif breakage == "loopback":
        container["env"] = [e for e in container["env"] if e["name"] != "EWARN_METRICS__HOST"]
    elif breakage == "no-port":
        del container["ports"]
    elif breakage == "no-policy":
        resources = [r for r in resources if r["metadata"]["name"] != "ewarn-metrics-ingress"]
    elif breakage == "no-env":
        container["env"] = [e for e in container["env"] if e["name"] != "EWARN_METRICS__PORT"]
    problems = metrics_problems(resources)
    assert any(expected in p and "ewarn-dispatch" in p for p in problems), problems


def test_kubernetes_network_policy_allows_only_the_needed_egress() -> None:
    assert network_problems(k8s_resources()) == []


def test_every_ewarn_variable_in_deploy_is_a_setting() -> None:
    used: set[str] = set()
    for path in deploy_text_files():
        used |= set(EWARN_VAR.findall(path.read_text()))
    assert len(used) > 10, "the scan found the variables"
    assert unknown_ewarn_vars(used) == []


def test_kubernetes_settings_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    resources = k8s_resources()
    (config,) = by_kind(resources, "ConfigMap")
    (secret,) = by_kind(resources, "Secret")
    settings = settings_from_env({**config["data"], **secret["stringData"]}, monkeypatch)
    assert settings.kafka.bootstrap
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.kafka.replication_factor >= 2, "a production cluster replicates"


def test_compose_parses_and_is_consistent() -> None:
    env = read_env_file(COMPOSE_DIR / ".env.example")
    assert compose_problems(load_compose(), env, dockerfile_entrypoint()) == []


def test_compose_env_example_defines_every_required_variable() -> None:
    text = COMPOSE_FILE.read_text()
    example = read_env_file(COMPOSE_DIR / ".env.example")
    refs = interpolation_refs(text)
    assert {n for n, required in refs.items() if required} <= example.keys()
    assert example.keys() <= refs.keys(), "every variable of .env.example is used"
    for entry in (s.get("env_file") or [] for s in load_compose()["services"].values()):
        for item in entry if isinstance(entry, list) else [entry]:
            path = COMPOSE_DIR / (item["path"] if isinstance(item, dict) else item)
            assert path.exists() or path.with_name(path.name + ".example").exists(), path
    assert {".env", "ewarn.env"} <= set((COMPOSE_DIR / ".gitignore").read_text().split())


def test_compose_services_settings_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    compose = load_compose()
    env = read_env_file(COMPOSE_DIR / ".env.example")
    services = compose["services"]
    for name in ("migrate", *ROLES):
        settings = settings_from_env(service_env(services[name], env), monkeypatch)
        host, _, port = (settings.kafka.bootstrap or "").partition(":")
        assert host in services, f"{name}: Kafka bootstrap {host!r} is not a service"
        kafka_env = services[host]["environment"]
        assert f"PLAINTEXT://{host}:{port}" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
        url = urlsplit(settings.database_url)
        assert url.hostname in services, f"{name}: database host {url.hostname!r} is not a service"
        pg_env = service_env(services[url.hostname], env)
        assert (url.username, url.password, url.path.lstrip("/")) == (
            pg_env["POSTGRES_USER"],
            pg_env["POSTGRES_PASSWORD"],
            pg_env["POSTGRES_DB"],
        )
        assert settings.kafka.replication_factor == 1, "one broker"
    api = settings_from_env(service_env(services["api"], env), monkeypatch)
    assert api.bootstrap_operator_key is not None


def test_compose_kafka_is_single_node_kraft_and_creates_the_topics() -> None:
    compose = load_compose()
    services = compose["services"]
    kafka = services["kafka"]
    assert kafka["image"] == "apache/kafka:3.9.1"
    kenv = {k: str(v) for k, v in kafka["environment"].items()}
    assert set(kenv["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert kenv[key] == "1", key
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", kenv["CLUSTER_ID"]) and not kenv["CLUSTER_ID"].startswith("-")
    assert services["postgres"]["image"].split(":")[1].split("-")[0] == "15"
    script = interpolate("\n".join(services["kafka-topics"]["command"]), {})
    roles_env = service_env(services["correlate"], read_env_file(COMPOSE_DIR / ".env.example"))
    topics = Topics(prefix=roles_env["EWARN_KAFKA__TOPIC_PREFIX"])
    created = dict(re.findall(r"--topic (\S+) --partitions (\d+)", script))
    assert set(created) == set(topics.all())
    partitions = int(roles_env.get("EWARN_KAFKA__PARTITIONS", KafkaSettings().partitions))
    assert {int(n) for n in created.values()} == {partitions}
    # The same per-topic configuration the Kafka bus uses when it creates a missing topic itself.
    for line in script.splitlines():
        m = re.search(r"--topic (\S+)", line)
        if m:
            configs = dict(c.split("=", 1) for c in re.findall(r"--config (\S+)", line))
            assert configs == topic_configs(topics, m.group(1), replication_factor=1), m.group(1)


def test_dockerfile_builds_a_non_root_ewarn_image() -> None:
    instructions = dockerfile_instructions(DOCKERFILE.read_text())
    args = dict(rest.split("=", 1) for op, rest in instructions if op == "ARG" and "=" in rest)
    bases = [interpolate(rest.split()[0], args) for op, rest in instructions if op == "FROM"]
    assert bases and all(b == "python:3.11-slim" for b in bases)
    assert dockerfile_entrypoint() == ["ewarn"]
    user = dockerfile_user()
    assert user.split(":")[0].isdigit() and int(user.split(":")[0]) > 0, "a numeric non-root USER"
    assert any(
        op == "RUN" and re.search(r"pip install (--no-deps )?\.(\s|$)", rest) for op, rest in instructions
    )
    assert "8080" in [rest for op, rest in instructions if op == "EXPOSE"]


def test_the_cli_has_the_commands_the_deployments_run() -> None:
    root = typer.main.get_command(cli_app)
    commands = root.commands  # type: ignore[attr-defined]
    assert "run" in commands
    assert "upgrade" in commands["db"].commands
    assert [p.name for p in commands["run"].params] == ["role"]


def test_no_secret_is_committed() -> None:
    items = committed_secret_items()
    assert any(name == "EWARN_DATABASE_URL" for _, name, _ in items)
    assert secret_problems(items) == []


def test_readme_names_every_role_and_topic() -> None:
    readme = (DEPLOY / "README.md").read_text()
    for name in (*ROLES, *Topics().all()):
        assert name in readme, name


# =========================================================================================================
# Negative tests: the checks reject broken input
# =========================================================================================================


def _deployment(role: str) -> dict[str, Any]:
    (d,) = [
        d
        for d in by_kind(k8s_resources(), "Deployment")
        if pod_labels(d)["app.kubernetes.io/component"] == role
    ]
    return copy.deepcopy(d)


def test_validator_rejects_broken_manifests() -> None:
    good = _deployment("correlate")
    assert validate_k8s(good) == []
    typo = copy.deepcopy(good)
    typo["spec"]["replica"] = typo["spec"].pop("replicas")
    assert any("replica" in p for p in validate_k8s(typo))
    wrong_type = copy.deepcopy(good)
    wrong_type["spec"]["replicas"] = "two"
    assert validate_k8s(wrong_type)
    unknown_field = copy.deepcopy(good)
    unknown_field["spec"]["template"]["spec"]["containers"][0]["cmd"] = ["ewarn"]
    assert validate_k8s(unknown_field)
    assert validate_k8s({**good, "kind": "Deploymnet"})
    assert validate_k8s({"kind": "Deployment"})


def test_settings_walk_rejects_typos() -> None:
    names = settings_env_names()
    assert {"EWARN_DATABASE_URL", "EWARN_KAFKA__BOOTSTRAP", "EWARN_SMTP__PASSWORD"} <= names.keys()
    assert names["EWARN_SMTP__PASSWORD"] and names["EWARN_BOOTSTRAP_OPERATOR_KEY"]
    assert not names["EWARN_KAFKA__BOOTSTRAP"]
    assert unknown_ewarn_vars({"EWARN_KAFKA__BOOTSTRAP", "EWARN_CONFIG_FILE"}) == []
    bad = unknown_ewarn_vars(
        {"EWARN_KAFKA__BOOTSRAP", "EWARN_KAFKA_BOOTSTRAP", "EWARN_KAFKA", "EWARN_SMTP__HOST_"}
    )
    assert len(bad) == 4


def test_role_check_rejects_wrong_commands_and_missing_roles() -> None:
    resources = [r for r in k8s_resources() if r["kind"] == "Deployment"]
    entry = dockerfile_entrypoint()
    broken = copy.deepcopy(resources)
    broken[0]["spec"]["template"]["spec"]["containers"][0]["args"] = ["run", "corelate"]
    problems = role_deployment_problems(broken, entry)
    assert any("not a role" in p for p in problems)
    assert any("expected exactly one" in p for p in problems)
    fewer = copy.deepcopy(resources)
    for d in fewer:
        if pod_labels(d)["app.kubernetes.io/component"] == "dispatch":
            d["spec"]["replicas"] = 1
    assert any("replicas 1 != 2" in p for p in role_deployment_problems(fewer, entry))
    assert role_deployment_problems(resources, ["python"])  # `python run correlate` is not ewarn


def test_workload_and_reference_checks_reject_weakened_manifests() -> None:
    d = _deployment("api")
    spec = d["spec"]["template"]["spec"]
    del spec["securityContext"]["runAsNonRoot"]
    spec["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
    spec["containers"][0]["image"] = "ewarn:latest"
    del spec["containers"][0]["resources"]["limits"]
    problems = workload_problems(d)
    assert len(problems) == 4, problems
    resources = k8s_resources()
    for r in resources:
        if r["kind"] == "Service":
            r["spec"]["ports"][0]["targetPort"] = "htp"
        if r["kind"] == "PodDisruptionBudget":
            r["spec"]["minAvailable"] = 2
        if r["kind"] == "Deployment" and pod_labels(r)["app.kubernetes.io/component"] == "ingest":
            r["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]["key"] = (
                "DB_URL"
            )
    problems = reference_problems(resources)
    assert any("targetPort 'htp'" in p for p in problems)
    assert sum("blocks every drain" in p for p in problems) == 2
    assert any("DB_URL" in p for p in problems)


def test_network_check_rejects_extra_ports_and_private_https() -> None:
    resources = k8s_resources()
    (policy,) = [p for p in by_kind(resources, "NetworkPolicy") if "Egress" in p["spec"]["policyTypes"]]
    policy["spec"]["egress"].append({"ports": [{"protocol": "TCP", "port": 22}]})
    policy["spec"]["egress"].append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443}]})
    policy["spec"]["egress"].append({"to": [{"podSelector": {}}]})
    problems = network_problems(resources)
    assert any("TCP/22" in p for p in problems)
    assert any("private range 10.0.0.0/8" in p for p in problems)
    assert any("opens every port" in p for p in problems)


def test_compose_check_rejects_broken_files() -> None:
    env = read_env_file(COMPOSE_DIR / ".env.example")
    entry = dockerfile_entrypoint()
    compose = copy.deepcopy(load_compose())
    services = compose["services"]
    services["ingest"]["depends_on"]["kafak"] = {"condition": "service_healthy"}
    services["correlate"]["command"] = ["run", "corelate"]
    services["dispatch"]["ports"] = ["9000:9000"]
    services["api"]["ports"] = ["0.0.0.0:8080:8000"]
    services["migrate"]["restart"] = "always"
    problems = compose_problems(compose, env, entry)
    assert any("unknown service 'kafak'" in p for p in problems)
    assert any("'ewarn run corelate', not a role" in p for p in problems)
    assert any("role correlate: 0 services" in p for p in problems)
    assert any("publishes port 9000 but runs 2 replicas" in p for p in problems)
    assert any("9000 on 0.0.0.0, not on loopback" in p for p in problems)
    assert any("container port 8000" in p for p in problems)
    assert any("one-shot migrate, which restarts" in p for p in problems)
    assert compose_problems({"services": {}}, env, entry) == ["compose: no services"]


def test_interpolation_follows_compose() -> None:
    env = {"A": "x", "E": ""}
    assert interpolate("${A}-${B:-d}-${E:-e}-${E-f}-$$A-$A", env) == "x-d-e--$A-x"
    with pytest.raises(ValueError, match="needed"):
        interpolate("${B:?needed}", env)
    assert interpolation_refs("${A:?x} ${B:-y} $$C") == {"A": True, "B": False}


def test_secret_check_rejects_real_looking_values() -> None:
    assert secret_problems([("f", "EWARN_BOOTSTRAP_OPERATOR_KEY", "CHANGE_ME")]) == []
    assert secret_problems([("f", "POSTGRES_PASSWORD", "${POSTGRES_PASSWORD:?set it}")]) == []
    assert secret_problems([("f", "EWARN_DATABASE_URL", "postgresql+asyncpg://u:change-me@h/db")]) == []
    assert secret_problems([("f", "EWARN_KAFKA__BOOTSTRAP", "kafka:9092")]) == []
    bad = [
        ("f", "EWARN_BOOTSTRAP_OPERATOR_KEY", "s3cr3t-Zk1x"),
        ("f", "EWARN_SMTP__PASSWORD", "hunter2"),
        ("f", "EWARN_DATABASE_URL", "postgresql+asyncpg://ewarn:Tr0ub4dor@db:5432/ewarn"),
        ("f", "POSTGRES_PASSWORD", "password123"),
        ("f", "tls.key", "-----BEGIN RSA PRIVATE KEY-----\nMIIE"),
    ]
    for item in bad:
        assert secret_problems([item]), item
