#!/usr/bin/env python3
"""What the Kubernetes kit promises, asserted on the rendered manifests (kubectl kustomize deploy/k8s):
the sidecar's probes, shutdown timing, resources, security context, policy volume and Secrets; the
Service in front of the sidecar; the control plane's Secrets; and that the Prometheus jobs
(deploy/prometheus/prometheus.yml) discover exactly these containers and ports.

usage: check_manifests.py RENDERED.yaml KIT_DIR"""
import re, sys
import yaml

DRAIN_SECONDS = 10           # tollgate-proxy's drain on SIGTERM (docs/operations.md, "Shutdown")
PEAK_RSS_MIB = 46            # ~46 MiB with 1,000 keep-alive connections (docs/benchmarks.md)

rendered, kit = sys.argv[1:3]
docs = [d for d in yaml.safe_load_all(open(rendered)) if d]
failures = []
def expect(condition, message):
    if not condition:
        failures.append(message)
def find(kind, name):
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    expect(len(found) == 1, f"{kind}/{name}: expected once in the rendered kit, found {len(found)}")
    return found[0] if found else {}
def mebibytes(quantity):
    number, unit = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(quantity)).groups()
    return float(number) * {"Mi": 1, "Gi": 1024, "Ki": 1 / 1024, "M": 1e6 / 2**20, "G": 1e9 / 2**20, "": 1 / 2**20}[unit]
def env(container):
    return {e["name"]: e for e in container.get("env", [])}
def hardened(deployment):
    pod = deployment["spec"]["template"]["spec"]
    name = deployment["metadata"]["name"]
    expect(pod.get("securityContext", {}).get("runAsNonRoot") is True, f"{name}: pod must set runAsNonRoot")
    expect(pod.get("automountServiceAccountToken") is False, f"{name}: no service account token is needed")
    for container in pod["containers"]:
        sc = container.get("securityContext", {})
        where = f"{name}/{container['name']}"
        expect(sc.get("readOnlyRootFilesystem") is True, f"{where}: read-only root filesystem")
        expect(sc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation false")
        expect(sc.get("capabilities", {}).get("drop") == ["ALL"], f"{where}: drop all capabilities")
        expect("memory" in container.get("resources", {}).get("requests", {}), f"{where}: memory request")
        expect("memory" in container.get("resources", {}).get("limits", {}), f"{where}: memory limit")
def pre_stop_seconds(container):
    return container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)

# The consumer and its sidecar.
orders = find("Deployment", "orders")
hardened(orders)
pod = orders["spec"]["template"]["spec"]
containers = {c["name"]: c for c in pod["containers"]}
proxy = containers.get("tollgate-proxy", {})
expect(proxy, "orders: no tollgate-proxy container")
app = [c for n, c in containers.items() if n != "tollgate-proxy"]
expect(len(app) == 1, "orders: one app container beside the sidecar")
proxy_env = env(proxy)
ports = {p["name"]: p["containerPort"] for p in proxy.get("ports", [])}
admin = proxy_env.get("TOLLGATE_ADMIN", {}).get("value", "127.0.0.1:9901")
expect(not admin.startswith("127.") and admin.endswith(f":{ports.get('tollgate-admin')}"),
       f"sidecar admin {admin}: must listen on the pod IP at the tollgate-admin port, or the kubelet's probes fail")
listen = proxy_env.get("TOLLGATE_LISTEN", {}).get("value", "")
expect(listen.endswith(f":{ports.get('tollgate-http')}"), f"sidecar listens on {listen}, its tollgate-http port is {ports.get('tollgate-http')}")
upstream = proxy_env.get("TOLLGATE_UPSTREAM", {}).get("value", "")
app_args = " ".join(app[0].get("args", [])) if app else ""
expect(upstream.startswith("http://127.0.0.1:") and upstream.split("://")[1] in app_args,
       f"sidecar upstream {upstream}: the app must listen there, on loopback only ({app_args})")
for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
    get = proxy.get(probe, {}).get("httpGet", {})
    expect(get.get("path") == path and get.get("port") == "tollgate-admin", f"sidecar {probe}: GET {path} on tollgate-admin, got {get}")
grace = pod.get("terminationGracePeriodSeconds", 30)
proxy_stop = pre_stop_seconds(proxy)
expect(proxy_stop > 0, "sidecar: a preStop pause lets the endpoint leave the Service before SIGTERM")
expect(grace > proxy_stop + DRAIN_SECONDS, f"grace {grace}s must exceed the sidecar's preStop {proxy_stop}s + {DRAIN_SECONDS}s drain")
if app:
    expect(pre_stop_seconds(app[0]) >= proxy_stop + DRAIN_SECONDS,
           f"app preStop {pre_stop_seconds(app[0])}s: the app must outlive the sidecar's drain ({proxy_stop}+{DRAIN_SECONDS}s)")
    expect(grace > pre_stop_seconds(app[0]), "grace must exceed the app's preStop")
requests = proxy.get("resources", {}).get("requests", {})
limits = proxy.get("resources", {}).get("limits", {})
expect(mebibytes(requests.get("memory", "0")) >= PEAK_RSS_MIB, f"sidecar memory request {requests.get('memory')} below the measured {PEAK_RSS_MIB} MiB")
expect(mebibytes(limits.get("memory", "0")) >= 2 * PEAK_RSS_MIB, f"sidecar memory limit {limits.get('memory')}: leave room over {PEAK_RSS_MIB} MiB")
redis = proxy_env.get("TOLLGATE_REDIS", {}).get("valueFrom", {}).get("secretKeyRef")
expect(redis is not None, "sidecar: the Redis URL comes from a Secret")
mounts = {m["name"]: m for m in proxy.get("volumeMounts", [])}
policies_dir = proxy_env.get("TOLLGATE_POLICIES", {}).get("value")
policy_mount = [m for m in mounts.values() if m["mountPath"] == policies_dir]
expect(len(policy_mount) == 1, f"sidecar: TOLLGATE_POLICIES {policies_dir} is not a mounted volume")
if policy_mount:
    expect("subPath" not in policy_mount[0], "policies mounted with subPath are never updated by the kubelet")
    volume = {v["name"]: v for v in pod.get("volumes", [])}.get(policy_mount[0]["name"], {})
    config_map_name = volume.get("configMap", {}).get("name")
    config_map = find("ConfigMap", config_map_name)
    expect(config_map_name == "orders-policies", f"policies volume must be the generated ConfigMap, got {config_map_name}")
    expect(config_map.get("data") and all(k.endswith((".yaml", ".yml")) for k in config_map.get("data", {})),
           "the policy ConfigMap holds the policy files")
    expect(config_map.get("metadata", {}).get("name") == "orders-policies",
           "no hash suffix on the policy ConfigMap: it must be updated in place for the hot reload")
service = find("Service", "orders")
target_ports = [p.get("targetPort") for p in service.get("spec", {}).get("ports", [])]
expect(target_ports == ["tollgate-http"], f"Service orders must target only the sidecar's port, got {target_ports}")
expect(service.get("spec", {}).get("selector") == orders["spec"]["selector"]["matchLabels"], "Service orders selects the orders pods")

# The control plane.
control = find("Deployment", "tollgate-control")
hardened(control)
control_container = control["spec"]["template"]["spec"]["containers"][0]
control_env = env(control_container)
expect(control_env.get("TOLLGATE_DATABASE", {}).get("valueFrom", {}).get("secretKeyRef"), "control: the database URL comes from a Secret")
expect(control_container.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz", "control: readiness on /readyz")
expect(control_container.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz", "control: liveness on /healthz")
issuer = control_env.get("TOLLGATE_ISSUER", {}).get("value", "")
control_service = find("Service", "tollgate-control")
namespace = control_service.get("metadata", {}).get("namespace")
port = control_service.get("spec", {}).get("ports", [{}])[0].get("port")
expect(issuer == f"http://tollgate-control.{namespace}.svc.cluster.local:{port}", f"control issuer {issuer} is not its Service's address")

# The consumer's policies trust this control plane.
policies = yaml.safe_load(config_map.get("data", {}).get("issuers.yaml", "{}")) if policy_mount else {}
control_issuer = policies.get("issuers", {}).get("control", {})
expect(control_issuer.get("issuer") == issuer, f"orders policies: issuer {control_issuer.get('issuer')} != control's {issuer}")
expect(control_issuer.get("jwks_url") == issuer + "/.well-known/jwks.json", "orders policies: jwks_url is the control plane's JWKS")

# Prometheus discovers these containers and ports.
prometheus = yaml.safe_load(open(f"{kit}/prometheus/prometheus.yml"))
jobs = {j["job_name"]: j for j in prometheus["scrape_configs"]}
def keep_regex(job):
    keeps = [r for r in job.get("relabel_configs", []) if r.get("action") == "keep"]
    return (keeps[0]["source_labels"], keeps[0]["regex"]) if keeps else ([], "")
labels, regex = keep_regex(jobs.get("tollgate-proxy", {}))
expect(re.fullmatch(regex, f"tollgate-proxy;tollgate-admin") and labels[-1].endswith("port_name"),
       "job tollgate-proxy does not keep the sidecar's tollgate-admin port")
labels, regex = keep_regex(jobs.get("tollgate-control", {}))
expect(re.fullmatch(regex, f"tollgate-control;{control_service.get('spec', {}).get('ports', [{}])[0].get('name')}"),
       "job tollgate-control does not keep the control plane Service's port")

print(f"{len(docs)} resources: sidecar probes, shutdown ({proxy_stop}s + {DRAIN_SECONDS}s drain < {grace}s), "
      f"memory {requests.get('memory')}/{limits.get('memory')}, security, policy ConfigMap, Secrets, Services, discovery")
for failure in failures:
    print("FAIL:", failure)
sys.exit(1 if failures else 0)
