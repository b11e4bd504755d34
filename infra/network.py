"""NetworkPolicies: deny everything by default, then allow only the flows the estate needs —
DNS, each store's members to each other, and labelled clients (`estate.dev/client-<store>`) to a store."""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra import k8s as kx

# Ports a client may use per store (NATS' HTTPS monitor is read by the harness for the meta leader).
CLIENT_PORTS = {"postgres": [5432], "mongo": [27017], "nats": [4222, 8222], "minio": [9000]}


class NetworkPolicies(pulumi.ComponentResource):
    component_label = "operations"

    def __init__(self, name: str, namespace: str, services: dict[str, int], opts: pulumi.ResourceOptions | None = None):
        super().__init__("estate:index:NetworkPolicies", name, None, opts)
        self.ns = namespace
        every = {"policyTypes": ["Ingress", "Egress"], "podSelector": {}}
        self._policy("default-deny", every)
        self._policy("allow-dns", {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{
                "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
            }],
        })
        for store, ports in CLIENT_PORTS.items():
            own = {"matchLabels": kx.selector(store)}
            client = {"matchLabels": {f"estate.dev/client-{store}": "true"}}
            port_list = [{"protocol": "TCP", "port": p} for p in ports]
            self._policy(f"{store}-members", {
                "podSelector": own, "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": own}]}, {"from": [{"podSelector": client}], "ports": port_list}],
                "egress": [{"to": [{"podSelector": own}]}],
            })
            self._policy(f"{store}-clients", {
                "podSelector": client, "policyTypes": ["Egress"],
                "egress": [{"to": [{"podSelector": own}], "ports": port_list}],
            })
        # The API is the platform's entry point (behind the cluster's ingress controller); the other
        # services are called from inside the namespace only.
        for svc, port in services.items():
            source = [{"namespaceSelector": {}}] if svc == "api" else [{"podSelector": {"matchLabels": {
                "app.kubernetes.io/part-of": kx.PART_OF, "app.kubernetes.io/component": "service"}}}]
            self._policy(f"{svc}-ingress", {
                "podSelector": {"matchLabels": kx.selector(svc)}, "policyTypes": ["Ingress"],
                "ingress": [{"from": source, "ports": [{"protocol": "TCP", "port": port}]}],
            })
        service_pods = {"matchLabels": {"app.kubernetes.io/part-of": kx.PART_OF, "app.kubernetes.io/component": "service"}}
        self._policy("services-to-services", {
            "podSelector": service_pods, "policyTypes": ["Egress"],
            "egress": [{"to": [{"podSelector": service_pods}]}],
        })
        locust = {"matchLabels": {"app.kubernetes.io/part-of": kx.PART_OF, "app.kubernetes.io/component": "operations"}}
        self._policy("locust", {
            "podSelector": {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In",
                                                  "values": ["locust-master", "locust-worker"]}]},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": locust}], "ports": [{"protocol": "TCP", "port": 5557},
                                                                      {"protocol": "TCP", "port": 8089}]}],
            "egress": [{"to": [{"podSelector": locust}], "ports": [{"protocol": "TCP", "port": 5557}]}],
        })
        self.register_outputs({})

    def _policy(self, name: str, spec: dict) -> None:
        k8s.networking.v1.NetworkPolicy(
            f"{self.pulumi_resource_name}-{name}",
            metadata=kx.meta(name, self.ns, "estate-network", "operations"),
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self),
        )
