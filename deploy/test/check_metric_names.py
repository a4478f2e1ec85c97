#!/usr/bin/env python3
"""Rules and dashboard name only metrics that exist: each rule file reads only its component's
/metrics (as a running binary serves it), Prometheus' `up`, and recorded series; every dashboard
expression parses with promtool and reads only those names.

usage: check_metric_names.py KIT_DIR PROXY_METRICS_FILE CONTROL_METRICS_FILE WORK_DIR"""
import json, os, subprocess, sys
import yaml
from promql_names import metric_names, grafana_to_promql, exposed_names

kit, proxy_file, control_file, work = sys.argv[1:5]
exposed = {"tollgate-proxy": exposed_names(open(proxy_file).read()),
           "tollgate-control": exposed_names(open(control_file).read())}
for component, names in exposed.items():
    if not any(n.startswith("tollgate_") for n in names):
        sys.exit(f"{component}: its /metrics page declared no tollgate_ metric")
failures = []
recorded = set()
rule_exprs = []
for component in exposed:
    path = os.path.join(kit, "prometheus", "rules", f"{component}.rules.yml")
    for group in yaml.safe_load(open(path))["groups"]:
        for rule in group["rules"]:
            if "record" in rule:
                recorded.add(rule["record"])
            rule_exprs.append((component, rule.get("record") or rule.get("alert"), rule["expr"]))
for component, name, expr in rule_exprs:
    unknown = metric_names(expr) - exposed[component] - recorded - {"up"}
    if unknown:
        failures.append(f"{component}.rules.yml {name}: names {sorted(unknown)}, not on {component}'s /metrics nor recorded")

dashboard = json.load(open(os.path.join(kit, "grafana", "tollgate.json")))
def panels(items):
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))
exprs = []
for panel in panels(dashboard["panels"]):
    for target in panel.get("targets", []):
        exprs.append((f'panel "{panel["title"]}" {target["refId"]}', target["expr"]))
for variable in dashboard["templating"]["list"]:
    if variable["type"] == "query":
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        inner = query[len("label_values("):query.rindex(",")] if query.startswith("label_values(") else query
        exprs.append((f'variable ${variable["name"]}', inner))
if len(exprs) < 10:
    failures.append(f"dashboard: only {len(exprs)} expressions found")
all_names = exposed["tollgate-proxy"] | exposed["tollgate-control"] | recorded | {"up"}
rules = {"groups": [{"name": "dashboard", "rules": []}]}
for index, (where, expr) in enumerate(exprs):
    promql = grafana_to_promql(expr)
    rules["groups"][0]["rules"].append({"record": f"dashboard_expression_{index}", "expr": promql})
    unknown = metric_names(promql) - all_names
    if unknown:
        failures.append(f"dashboard {where}: names {sorted(unknown)}, which no component exports and no rule records")
    if not metric_names(promql):
        failures.append(f"dashboard {where}: reads no metric")
rule_file = os.path.join(work, "dashboard-expressions.rules.yml")
yaml.safe_dump(rules, open(rule_file, "w"), sort_keys=False)
check = subprocess.run(["promtool", "check", "rules", rule_file], capture_output=True, text=True)
if check.returncode != 0:
    failures.append("dashboard: promtool cannot parse an expression:\n" + check.stdout + check.stderr)
print(f"{len(rule_exprs)} rules and {len(exprs)} dashboard expressions read {len(all_names & set().union(*(metric_names(grafana_to_promql(e)) for _, e in exprs), *(metric_names(e) for _, _, e in rule_exprs)))} distinct names")
for failure in failures:
    print("FAIL:", failure)
sys.exit(1 if failures else 0)
