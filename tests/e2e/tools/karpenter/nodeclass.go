package main

// EKS Auto Mode's NodeClass (eks.amazonaws.com/v1, cluster-scoped), as Karpenter core needs it:
// a status.Object whose Ready condition gates launches. The fields read here are the ones the EKS
// user guide documents for the built-in `default` NodeClass's status ("Create a Node Class for
// Amazon EKS": status.subnets[].id/zone, status.securityGroups, status.conditions); the spec is
// kept as it is served.

import (
	"github.com/awslabs/operatorpkg/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
)

var nodeClassGroupVersion = schema.GroupVersion{Group: "eks.amazonaws.com", Version: "v1"}

func init() {
	// Karpenter's operator builds its clients from client-go's scheme (as kwok registers its
	// KWOKNodeClass in sigs.k8s.io/karpenter/kwok/apis/v1alpha1/doc.go).
	metav1.AddToGroupVersion(scheme.Scheme, nodeClassGroupVersion)
	scheme.Scheme.AddKnownTypes(nodeClassGroupVersion, &NodeClass{}, &NodeClassList{})
}

type Subnet struct {
	ID     string `json:"id"`
	Zone   string `json:"zone"`
	ZoneID string `json:"zoneID,omitempty"`
}

type SecurityGroup struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

type NodeClassStatus struct {
	Conditions     []status.Condition `json:"conditions,omitempty"`
	Subnets        []Subnet           `json:"subnets,omitempty"`
	SecurityGroups []SecurityGroup    `json:"securityGroups,omitempty"`
}

type NodeClass struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              map[string]interface{} `json:"spec,omitempty"`
	Status            NodeClassStatus        `json:"status,omitempty"`
}

type NodeClassList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NodeClass `json:"items"`
}

func (in *NodeClass) StatusConditions(opts ...status.ForOption) status.ConditionSet {
	return status.NewReadyConditions().For(in, opts...)
}

func (in *NodeClass) GetConditions() []status.Condition { return in.Status.Conditions }

func (in *NodeClass) SetConditions(conditions []status.Condition) {
	in.Status.Conditions = conditions
}

// SubnetFor is the subnet the NodeClass resolved in a zone, or "" when it has none there.
func (in *NodeClass) SubnetFor(zone string) string {
	for _, subnet := range in.Status.Subnets {
		if subnet.Zone == zone {
			return subnet.ID
		}
	}
	return ""
}

func (in *NodeClass) DeepCopyInto(out *NodeClass) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	if in.Spec != nil {
		out.Spec = runtime.DeepCopyJSON(in.Spec)
	}
	out.Status = NodeClassStatus{
		Subnets:        append([]Subnet(nil), in.Status.Subnets...),
		SecurityGroups: append([]SecurityGroup(nil), in.Status.SecurityGroups...),
	}
	for i := range in.Status.Conditions {
		out.Status.Conditions = append(out.Status.Conditions, *in.Status.Conditions[i].DeepCopy())
	}
}

func (in *NodeClass) DeepCopy() *NodeClass {
	if in == nil {
		return nil
	}
	out := new(NodeClass)
	in.DeepCopyInto(out)
	return out
}

func (in *NodeClass) DeepCopyObject() runtime.Object { return in.DeepCopy() }

func (in *NodeClassList) DeepCopyObject() runtime.Object {
	if in == nil {
		return nil
	}
	out := &NodeClassList{TypeMeta: in.TypeMeta}
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	for i := range in.Items {
		out.Items = append(out.Items, *in.Items[i].DeepCopy())
	}
	return out
}
