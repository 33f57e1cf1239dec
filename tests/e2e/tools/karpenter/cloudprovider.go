package main

// A cloudprovider.CloudProvider for EKS Auto Mode, after Karpenter's own kwok provider
// (sigs.k8s.io/karpenter/kwok/cloudprovider): an instance is an EC2 instance in the rehearsal's
// moto plus the Node object its kubelet would register (the rehearsal's kubelet stand-in then
// reports it Ready). Karpenter core decides everything else: which NodePool and type, when a
// node is empty, how it is drained and terminated.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/awslabs/operatorpkg/status"
	"github.com/samber/lo"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	"sigs.k8s.io/karpenter/pkg/scheduling"
	"sigs.k8s.io/karpenter/pkg/utils/resources"
)

// The AMI moto registers for the rehearsal's nodes (Auto Mode chooses a Bottlerocket AMI itself).
const nodeImage = "ami-0a1b2c3d4e5f60718"

type AutoMode struct {
	kube          client.Client
	ec2           *EC2
	cluster       string
	instanceTypes []*cloudprovider.InstanceType
}

func providerID(zone, instance string) string { return fmt.Sprintf("aws:///%s/%s", zone, instance) }

// instanceID parses aws:///<zone>/<instance-id>, the provider ID EKS nodes carry.
func instanceID(providerID string) (string, error) {
	parts := strings.Split(providerID, "/")
	if !strings.HasPrefix(providerID, "aws:///") || len(parts) != 5 || !strings.HasPrefix(parts[4], "i-") {
		return "", fmt.Errorf("provider ID %q is not aws:///<zone>/<instance-id>", providerID)
	}
	return parts[4], nil
}

func (c *AutoMode) Name() string { return "eks-auto-mode" }

func (c *AutoMode) GetSupportedNodeClasses() []status.Object { return []status.Object{&NodeClass{}} }

func (c *AutoMode) GetInstanceTypes(context.Context, *karpv1.NodePool) ([]*cloudprovider.InstanceType, error) {
	return c.instanceTypes, nil
}

func (c *AutoMode) IsDrifted(context.Context, *karpv1.NodeClaim) (cloudprovider.DriftReason, error) {
	return "", nil
}

func (c *AutoMode) Reboot(context.Context, *karpv1.NodeClaim, string) error {
	return cloudprovider.NewNodeRebootNotImplementedError()
}

// RepairPolicies: a node whose kubelet stops reporting Ready is replaced after 10 minutes, the
// policy kwok and the AWS provider share for the kubelet's Ready condition.
func (c *AutoMode) RepairPolicies() []cloudprovider.RepairPolicy {
	return []cloudprovider.RepairPolicy{
		{
			ConditionType:          corev1.NodeReady,
			ConditionStatus:        corev1.ConditionFalse,
			TolerationDuration:     10 * time.Minute,
			TerminationGracePeriod: lo.ToPtr(time.Duration(0)),
			Action:                 cloudprovider.ReplaceNode,
		},
		{
			ConditionType:          corev1.NodeReady,
			ConditionStatus:        corev1.ConditionUnknown,
			ReasonRegex:            ".*",
			TolerationDuration:     10 * time.Minute,
			TerminationGracePeriod: lo.ToPtr(time.Duration(0)),
			Action:                 cloudprovider.ReplaceNode,
		},
	}
}

func (c *AutoMode) nodeClass(ctx context.Context, nodeClaim *karpv1.NodeClaim) (*NodeClass, error) {
	nodeClass := &NodeClass{}
	if err := c.kube.Get(ctx, types.NamespacedName{Name: nodeClaim.Spec.NodeClassRef.Name}, nodeClass); err != nil {
		return nil, err
	}
	return nodeClass, nil
}

// choose is the cheapest available offering, among the NodeClaim's instance types, that its
// requirements admit, its requests fit, and the NodeClass has a subnet for (the AWS provider's
// launch path orders the same candidates by price).
func (c *AutoMode) choose(nodeClaim *karpv1.NodeClaim, nodeClass *NodeClass) (*cloudprovider.InstanceType, *cloudprovider.Offering, string) {
	requirements := scheduling.NewNodeSelectorRequirementsWithMinValues(nodeClaim.Spec.Requirements...)
	var bestType *cloudprovider.InstanceType
	var best *cloudprovider.Offering
	subnet := ""
	names := requirements.Get(corev1.LabelInstanceTypeStable)
	for _, it := range c.instanceTypes {
		if !names.Has(it.Name) || !resources.Fits(nodeClaim.Spec.Resources.Requests, it.Allocatable()) {
			continue
		}
		for _, offering := range it.Offerings.Available().Compatible(requirements) {
			zone := offering.Requirements.Get(corev1.LabelTopologyZone).Any()
			found := nodeClass.SubnetFor(zone)
			if found == "" {
				continue
			}
			if best == nil || offering.Price < best.Price || (offering.Price == best.Price && it.Name < bestType.Name) {
				bestType, best, subnet = it, offering, found
			}
		}
	}
	return bestType, best, subnet
}

func (c *AutoMode) Create(ctx context.Context, nodeClaim *karpv1.NodeClaim) (*karpv1.NodeClaim, error) {
	nodeClass, err := c.nodeClass(ctx, nodeClaim)
	if err != nil {
		if errors.IsNotFound(err) {
			return nil, cloudprovider.NewInsufficientCapacityError(fmt.Errorf("resolving node class, %w", err))
		}
		return nil, fmt.Errorf("resolving node class, %w", err)
	}
	if ready := nodeClass.StatusConditions().Get(status.ConditionReady); ready.IsFalse() {
		return nil, cloudprovider.NewNodeClassNotReadyError(fmt.Errorf("%s", ready.Message))
	}
	instanceType, offering, subnet := c.choose(nodeClaim, nodeClass)
	if offering == nil {
		return nil, cloudprovider.NewInsufficientCapacityError(fmt.Errorf("no offering of %s fits the NodeClaim in the NodeClass's subnets",
			strings.Join(scheduling.NewNodeSelectorRequirementsWithMinValues(nodeClaim.Spec.Requirements...).Get(corev1.LabelInstanceTypeStable).Values(), ", ")))
	}
	zone := offering.Requirements.Get(corev1.LabelTopologyZone).Any()
	capacityType := offering.Requirements.Get(karpv1.CapacityTypeLabelKey).Any()
	pool := nodeClaim.Labels[karpv1.NodePoolLabelKey]
	instance, err := c.ec2.RunInstances(instanceType.Name, subnet, nodeImage, map[string]string{
		"Name":                               fmt.Sprintf("%s/%s", c.cluster, pool),
		"eks:eks-cluster-name":               c.cluster,
		"eks:kubernetes-node-pool-name":      pool,
		"eks:kubernetes-node-class-name":     nodeClass.Name,
		karpv1.NodePoolLabelKey:              pool,
		"karpenter.sh/nodeclaim":             nodeClaim.Name,
		"kubernetes.io/cluster/" + c.cluster: "owned",
	})
	if err != nil {
		return nil, fmt.Errorf("launching %s in %s, %w", instanceType.Name, zone, err)
	}
	labels := map[string]string{}
	for key, value := range nodeClaim.Labels {
		labels[key] = value
	}
	for _, r := range nodeClaim.Spec.Requirements {
		if len(r.Values) == 1 && r.Operator == corev1.NodeSelectorOpIn {
			labels[r.Key] = r.Values[0]
		}
	}
	for _, r := range instanceType.Requirements {
		if r.Len() == 1 && r.Operator() == corev1.NodeSelectorOpIn {
			labels[r.Key] = r.Values()[0]
		}
	}
	labels[corev1.LabelInstanceTypeStable] = instanceType.Name
	labels[corev1.LabelTopologyZone] = zone
	labels[karpv1.CapacityTypeLabelKey] = capacityType
	created := nodeClaim.DeepCopy()
	created.Labels = lo.Assign(labels) // a copy: the hostname below is the Node's alone
	created.Status.ProviderID = providerID(zone, instance.ID)
	created.Status.ImageID = nodeImage
	created.Status.Capacity = instanceType.Capacity
	created.Status.Allocatable = instanceType.Allocatable()
	// The kubelet registers with the NodeClaim's taints and startup taints and Karpenter's
	// unregistered taint (karpenter.sh/unregistered), which Karpenter removes once it has synced
	// the Node with its NodeClaim.
	taints := append([]corev1.Taint{karpv1.UnregisteredNoExecuteTaint}, nodeClaim.Spec.Taints...)
	taints = append(taints, nodeClaim.Spec.StartupTaints...)
	labels[corev1.LabelHostname] = instance.ID
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: instance.ID, Labels: labels},
		Spec:       corev1.NodeSpec{ProviderID: created.Status.ProviderID, Taints: taints},
		Status: corev1.NodeStatus{
			Capacity:    instanceType.Capacity,
			Allocatable: instanceType.Allocatable(),
			Phase:       corev1.NodePending,
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: instance.PrivateIP},
				{Type: corev1.NodeHostName, Address: instance.ID},
			},
		},
	}
	if err := c.kube.Create(ctx, node); err != nil {
		_ = c.ec2.TerminateInstance(instance.ID)
		return nil, fmt.Errorf("registering node %s, %w", instance.ID, err)
	}
	return created, nil
}

func (c *AutoMode) Delete(_ context.Context, nodeClaim *karpv1.NodeClaim) error {
	id, err := instanceID(nodeClaim.Status.ProviderID)
	if err != nil {
		return cloudprovider.NewNodeClaimNotFoundError(err)
	}
	found, err := c.ec2.DescribeInstances([]string{id}, nil)
	if err != nil {
		return fmt.Errorf("describing %s, %w", id, err)
	}
	if len(found) == 0 || found[0].Gone() {
		return cloudprovider.NewNodeClaimNotFoundError(fmt.Errorf("instance %s terminated", id))
	}
	if err := c.ec2.TerminateInstance(id); err != nil {
		return fmt.Errorf("terminating %s, %w", id, err)
	}
	return nil
}

func (c *AutoMode) toNodeClaim(instance Instance) *karpv1.NodeClaim {
	return &karpv1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name: instance.Tag("karpenter.sh/nodeclaim"),
			Labels: map[string]string{
				karpv1.NodePoolLabelKey:        instance.Tag(karpv1.NodePoolLabelKey),
				corev1.LabelInstanceTypeStable: instance.Type,
				corev1.LabelTopologyZone:       instance.Zone,
				karpv1.CapacityTypeLabelKey:    karpv1.CapacityTypeOnDemand,
			},
			CreationTimestamp: metav1.NewTime(instance.LaunchTime),
		},
		Status: karpv1.NodeClaimStatus{
			ProviderID: providerID(instance.Zone, instance.ID),
			ImageID:    instance.ImageID,
		},
	}
}

func (c *AutoMode) Get(_ context.Context, id string) (*karpv1.NodeClaim, error) {
	instance, err := instanceID(id)
	if err != nil {
		return nil, cloudprovider.NewNodeClaimNotFoundError(err)
	}
	found, err := c.ec2.DescribeInstances([]string{instance}, nil)
	if err != nil {
		return nil, fmt.Errorf("describing %s, %w", instance, err)
	}
	if len(found) == 0 || found[0].Gone() {
		return nil, cloudprovider.NewNodeClaimNotFoundError(fmt.Errorf("instance %s not found", instance))
	}
	return c.toNodeClaim(found[0]), nil
}

// List is every running instance Auto Mode launched for this cluster's NodePools; the managed
// node groups' instances carry no karpenter.sh/nodepool tag and are never Karpenter's to collect.
func (c *AutoMode) List(context.Context) ([]*karpv1.NodeClaim, error) {
	found, err := c.ec2.DescribeInstances(nil, map[string][]string{
		"tag:eks:eks-cluster-name": {c.cluster},
		"tag-key":                  {karpv1.NodePoolLabelKey},
		"instance-state-name":      {"pending", "running"},
	})
	if err != nil {
		return nil, fmt.Errorf("listing instances, %w", err)
	}
	return lo.Map(found, func(instance Instance, _ int) *karpv1.NodeClaim { return c.toNodeClaim(instance) }), nil
}
