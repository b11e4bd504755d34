"""Pulumi programs for the estate on Kubernetes: one ComponentResource per store, one for the runtime
services, one for operations and network, composed by `infra.composition.Estate`."""
