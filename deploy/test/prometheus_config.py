#!/usr/bin/env python3
"""The kit's Prometheus configuration (deploy/prometheus/prometheus.yml), made checkable here.

  prometheus_config.py promtool-view IN OUT
      Debian's Prometheus is built without Kubernetes service discovery, so its promtool refuses
      `kubernetes_sd_configs`. This checks those blocks itself (known fields and roles, and every
      __meta_kubernetes_* label a relabelling reads exists for the job's role), then writes OUT with
      each replaced by an empty static_configs, for `promtool check config` to check the rest.
  prometheus_config.py local IN OUT JOB=HOST:PORT... [--interval 1s]
      The same jobs (names, paths, rule files) scraping local targets instead of discovering pods, for
      the real scrape test: discovery blocks and the relabellings that read their labels are dropped,
      and the labels they would have set (namespace, pod, app) are given as static labels."""
import os, re, sys
import yaml

SD_FIELDS = {"role", "namespaces", "selectors", "api_server", "kubeconfig_file", "attach_metadata",
             "basic_auth", "authorization", "oauth2", "proxy_url", "follow_redirects", "enable_http2",
             "tls_config", "no_proxy", "proxy_from_environment", "proxy_connect_header"}
ROLES = {"node", "pod", "service", "endpoints", "endpointslice", "ingress"}
# Prometheus' documentation, "kubernetes_sd_config": the meta labels of each role.
POD = {"namespace", "pod_name", "pod_ip", "pod_container_init", "pod_container_name", "pod_container_id",
       "pod_container_image", "pod_container_port_name", "pod_container_port_number",
       "pod_container_port_protocol", "pod_ready", "pod_phase", "pod_node_name", "pod_host_ip", "pod_uid",
       "pod_controller_kind", "pod_controller_name"}
POD_PREFIXES = ("pod_label_", "pod_labelpresent_", "pod_annotation_", "pod_annotationpresent_")
SERVICE = {"namespace", "service_name", "service_cluster_ip", "service_external_name", "service_port_name",
           "service_port_number", "service_port_protocol", "service_type"}
SERVICE_PREFIXES = ("service_label_", "service_labelpresent_", "service_annotation_", "service_annotationpresent_")
ENDPOINTS = {"namespace", "endpoints_name", "endpoint_hostname", "endpoint_node_name", "endpoint_ready",
             "endpoint_port_name", "endpoint_port_protocol", "endpoint_address_target_kind",
             "endpoint_address_target_name"} | SERVICE | POD
ENDPOINTS_PREFIXES = ("endpoints_label_", "endpoints_labelpresent_", "endpoints_annotation_",
                      "endpoints_annotationpresent_") + SERVICE_PREFIXES + POD_PREFIXES
META = {"pod": (POD, POD_PREFIXES), "endpoints": (ENDPOINTS, ENDPOINTS_PREFIXES), "service": (SERVICE, SERVICE_PREFIXES)}


def meta_labels(job):
    for relabel in job.get("relabel_configs", []):
        for label in relabel.get("source_labels", []):
            if label.startswith("__meta_kubernetes_"):
                yield relabel, label[len("__meta_kubernetes_"):]


def promtool_view(config, base):
    problems = []
    for job in config["scrape_configs"]:
        sd = job.pop("kubernetes_sd_configs", None)
        if sd is None:
            continue
        roles = set()
        for block in sd:
            extra = set(block) - SD_FIELDS
            if extra:
                problems.append(f"{job['job_name']}: unknown kubernetes_sd_configs fields {sorted(extra)}")
            if block.get("role") not in ROLES:
                problems.append(f"{job['job_name']}: role {block.get('role')!r} is not one of {sorted(ROLES)}")
            names = block.get("namespaces", {})
            if set(names) - {"names", "own_namespace"} or not isinstance(names.get("names", []), list):
                problems.append(f"{job['job_name']}: namespaces takes names: [..] and own_namespace")
            roles.add(block.get("role"))
        for _, label in meta_labels(job):
            for role in roles:
                exact, prefixes = META.get(role, (set(), ()))
                if label not in exact and not label.startswith(prefixes):
                    problems.append(f"{job['job_name']}: role {role} has no label __meta_kubernetes_{label}")
        job["static_configs"] = [{"targets": []}]
    config["rule_files"] = [os.path.join(base, f) for f in config.get("rule_files", [])]
    return problems


def local(config, base, targets, interval):
    config["global"]["scrape_interval"] = interval
    config["global"]["evaluation_interval"] = interval
    config["rule_files"] = [os.path.join(base, f) for f in config.get("rule_files", [])]
    for job in config["scrape_configs"]:
        job.pop("kubernetes_sd_configs", None)
        static_labels = {}
        kept = []
        for relabel in job.get("relabel_configs", []):
            sources = relabel.get("source_labels", [])
            if any(s.startswith("__meta_kubernetes_") for s in sources):
                if relabel.get("target_label"):
                    static_labels[relabel["target_label"]] = f"local-{relabel['target_label']}"
                continue
            kept.append(relabel)
        job["relabel_configs"] = kept
        job["static_configs"] = [{"targets": [targets[job["job_name"]]], "labels": static_labels}]


def main(argv):
    mode, source, out = argv[1:4]
    base = os.path.dirname(os.path.abspath(source))
    config = yaml.safe_load(open(source))
    if mode == "promtool-view":
        problems = promtool_view(config, base)
        for problem in problems:
            print("FAIL:", problem)
        if problems:
            return 1
    elif mode == "local":
        interval = "1s"
        targets = {}
        rest = argv[4:]
        while rest:
            item = rest.pop(0)
            if item == "--interval":
                interval = rest.pop(0)
            else:
                job, target = item.split("=", 1)
                targets[job] = target
        local(config, base, targets, interval)
    else:
        print(__doc__)
        return 2
    yaml.safe_dump(config, open(out, "w"), sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
