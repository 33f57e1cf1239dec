"""The rehearsal world: AWS (moto), EKS control planes (kube-apiserver, kube-controller-manager,
kube-scheduler on etcd), EKS authentication, and simulated Auto Mode nodes, all on loopback."""
