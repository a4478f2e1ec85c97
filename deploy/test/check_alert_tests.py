#!/usr/bin/env python3
"""Every alert in the rule files has `promtool test rules` cases in which it fires and in which it
stays quiet (promtool itself runs them; this checks none is missing).

usage: check_alert_tests.py PROMETHEUS_DIR"""
import glob, os, sys
import yaml

directory = sys.argv[1]
alerts = {}
for path in sorted(glob.glob(os.path.join(directory, "rules", "*.rules.yml"))):
    for group in yaml.safe_load(open(path))["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                alerts[rule["alert"]] = os.path.basename(path)
fires, quiet = set(), set()
for path in sorted(glob.glob(os.path.join(directory, "tests", "*.test.yml"))):
    for test in yaml.safe_load(open(path))["tests"]:
        for case in test.get("alert_rule_test", []):
            (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
failures = []
for alert, path in sorted(alerts.items()):
    if alert not in fires:
        failures.append(f"{alert} ({path}): no test in which it fires")
    if alert not in quiet:
        failures.append(f"{alert} ({path}): no test in which it stays quiet")
unknown = (fires | quiet) - set(alerts)
if unknown:
    failures.append(f"tests name alerts no rule file defines: {sorted(unknown)}")
if not alerts:
    failures.append("no alerts found")
print(f"{len(alerts)} alerts: {', '.join(sorted(alerts))}")
for failure in failures:
    print("FAIL:", failure)
sys.exit(1 if failures else 0)
