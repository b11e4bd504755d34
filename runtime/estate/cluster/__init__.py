"""The local Kubernetes control plane (estate cluster): build, run, and apply the stacks to it."""
