"""The kernel: the project's pure rules and facts (configuration, instance types, EKS versions,
images, IAM principals, well-known names, Kubernetes object builders, check results, account
checks). It imports nothing of `components` (what `pulumi up` registers) or `toe` (the operator
CLI), so every wing reads one copy of each rule."""
