"""Checks rendered manifests against the pod security level each namespace enforces, and that every
namespace of ours that runs pods has an ingress NetworkPolicy. Run by scripts/manifests.sh on each
overlay's output; prints what it checked, exits 1 on the first overlay with a violation."""
import sys

import yaml

RESTRICTED_HINT = "the namespace enforces pod-security `restricted`"


def containers(spec):
    return spec.get("initContainers", []) + spec.get("containers", [])


def restricted_violations(kind, name, pod):
    out = []
    psc = pod.get("securityContext", {})
    seccomp = psc.get("seccompProfile", {}).get("type")
    for v in pod.get("volumes", []):
        if "hostPath" in v:
            out.append(f"{kind}/{name}: hostPath volume {v['name']}")
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            out.append(f"{kind}/{name}: {flag}")
    for c in containers(pod):
        sc = c.get("securityContext", {})
        where = f"{kind}/{name} container {c['name']}"
        if not (sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True):
            out.append(f"{where}: runAsNonRoot is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{where}: allowPrivilegeEscalation is not false")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            out.append(f"{where}: capabilities do not drop ALL")
        if sc.get("privileged"):
            out.append(f"{where}: privileged")
        if sc.get("seccompProfile", {}).get("type", seccomp) not in ("RuntimeDefault", "Localhost"):
            out.append(f"{where}: no RuntimeDefault seccomp profile")
    return out


def check(path):
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    levels = {
        d["metadata"]["name"]: d["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce", "privileged")
        for d in docs
        if d["kind"] == "Namespace"
    }
    policies = {d["metadata"]["namespace"] for d in docs if d["kind"] == "NetworkPolicy"}
    problems, pods = [], 0
    for d in docs:
        if d["kind"] not in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            continue
        pods += 1
        ns, name = d["metadata"].get("namespace"), d["metadata"]["name"]
        level = levels.get(ns)
        if level is None:
            problems.append(f"{d['kind']}/{name}: namespace {ns} is not among the manifests")
            continue
        if level == "restricted":
            problems += [f"{p} ({RESTRICTED_HINT} {ns})" for p in restricted_violations(d["kind"], name, d["spec"]["template"]["spec"])]
        if ns not in policies:
            problems.append(f"{d['kind']}/{name}: no NetworkPolicy in namespace {ns}")
    # What #18 settled: the server's namespace is `restricted`; only the agents' is `privileged`;
    # the workloads' namespace denies ingress by default.
    if levels.get("migboard") != "restricted":
        problems.append(f"namespace migboard enforces {levels.get('migboard')!r}, not 'restricted'")
    for ns, level in levels.items():
        if level == "privileged" and ns != "migboard-agent":
            problems.append(f"namespace {ns} is privileged: only migboard-agent (the agents' host folder) may be")
    if "migboard-workloads" in levels and not any(
        d["kind"] == "NetworkPolicy"
        and d["metadata"]["namespace"] == "migboard-workloads"
        and d["spec"].get("podSelector") in ({}, None)
        and "Ingress" in d["spec"].get("policyTypes", [])
        and not d["spec"].get("ingress")
        for d in docs
    ):
        problems.append("namespace migboard-workloads has no default-deny ingress NetworkPolicy")
    for p in problems:
        print(f"policy: {path}: {p}", file=sys.stderr)
    print(f"policy: {path}: {pods} workloads; namespaces {dict(sorted(levels.items()))}; NetworkPolicies in {sorted(policies)}")
    return not problems


ok = all([check(p) for p in sys.argv[1:]])
sys.exit(0 if ok else 1)
