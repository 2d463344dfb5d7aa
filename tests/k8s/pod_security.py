"""The Pod Security Standards ``restricted`` profile, as the PodSecurity admission plugin checks it.

The fake API server refuses to create a pod that violates it in a namespace labelled
``pod-security.kubernetes.io/enforce=restricted`` (the label the real plugin reads), with
the plugin's message. Checks follow https://kubernetes.io/docs/concepts/security/pod-security-standards/
(baseline and restricted controls that concern pod specs datavc or users write).
"""

from __future__ import annotations

from typing import Any

ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def restricted_violations(spec: dict[str, Any]) -> list[str]:
    """What in pod ``spec`` breaks ``restricted`` (empty: it passes), in the plugin's words."""
    out: list[str] = []
    pod_sc = spec.get("securityContext") or {}
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            out.append(f"host namespaces ({key}=true)")
    bad_volumes = [
        v.get("name", "?") for v in spec.get("volumes") or [] if not (set(v) - {"name"}) <= _VOLUME_TYPES
    ]
    if bad_volumes:
        out.append(f"restricted volume types (volumes {bad_volumes} use types that are not allowed)")
    pod_nonroot = pod_sc.get("runAsNonRoot") is True
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type") in ("RuntimeDefault", "Localhost")
    if pod_sc.get("runAsUser") == 0:
        out.append("runAsUser=0 (pod must not set runAsUser=0)")
    for c in containers:
        name = c.get("name", "?")
        sc = c.get("securityContext") or {}
        if sc.get("privileged"):
            out.append(f'privileged (container "{name}" must not set securityContext.privileged=true)')
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(
                f'allowPrivilegeEscalation != false (container "{name}" must set '
                "securityContext.allowPrivilegeEscalation=false)"
            )
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            out.append(
                f'unrestricted capabilities (container "{name}" must set '
                'securityContext.capabilities.drop=["ALL"])'
            )
        extra = [a for a in caps.get("add") or [] if a != "NET_BIND_SERVICE"]
        if extra:
            out.append(
                f'unrestricted capabilities (container "{name}" must not include {extra} in capabilities.add)'
            )
        nonroot = sc.get("runAsNonRoot")
        if not (nonroot is True or (nonroot is None and pod_nonroot)):
            out.append(
                f'runAsNonRoot != true (container "{name}" must set securityContext.runAsNonRoot=true)'
            )
        if sc.get("runAsUser") == 0:
            out.append(f'runAsUser=0 (container "{name}" must not set runAsUser=0)')
        seccomp = (sc.get("seccompProfile") or {}).get("type")
        if not (seccomp in ("RuntimeDefault", "Localhost") or (seccomp is None and pod_seccomp)):
            out.append(
                f'seccompProfile (container "{name}" must set securityContext.seccompProfile.type to '
                '"RuntimeDefault" or "Localhost")'
            )
    return out


def forbidden_message(pod_name: str, violations: list[str]) -> str:
    """The admission plugin's refusal."""
    return f'pods "{pod_name}" is forbidden: violates PodSecurity "restricted:latest": ' + ", ".join(
        violations
    )
