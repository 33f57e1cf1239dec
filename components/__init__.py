"""The training-on-eks Pulumi components, their configuration reader and Kubernetes builders."""
