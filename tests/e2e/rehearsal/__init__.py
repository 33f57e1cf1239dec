"""The rehearsal world: AWS (moto), EKS control planes (kube-apiserver, kube-controller-manager,
kube-scheduler on etcd), real Karpenter with an Auto Mode cloud provider, a kubelet stand-in and
EKS authentication, all on loopback."""
