"""Clients of the local cluster (the ``kubernetes`` package), from the admin kubeconfig."""
from __future__ import annotations

import json
from pathlib import Path

from kubernetes import client as k8s
from kubernetes import config
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import DynamicApiError

from estate.errors import EstateError


def api_client(kubeconfig: Path) -> k8s.ApiClient:
    if not kubeconfig.exists():
        raise EstateError(f"no kubeconfig at {kubeconfig}: run `estate cluster up` first")
    return config.new_client_from_config(config_file=str(kubeconfig))


def core(kubeconfig: Path) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(api_client(kubeconfig))


def dynamic(kubeconfig: Path) -> DynamicClient:
    return DynamicClient(api_client(kubeconfig))


def api_error(exc: Exception) -> str:
    """The API server's own message for a refused request, one line (its Status ``message``)."""
    body = getattr(exc, "body", None)
    if isinstance(body, (bytes, str)) and body:
        try:
            return " ".join(str(json.loads(body).get("message", body)).split())
        except ValueError:
            pass
    if isinstance(exc, (ApiException, DynamicApiError)):
        return f"{getattr(exc, 'status', '')} {getattr(exc, 'reason', '')}".strip()
    return " ".join(str(exc).split())
