package main

// The instance types Auto Mode can launch, read from the catalogue the rehearsal writes from
// its EC2 data (moto's copy for the region: types, zones offered, vCPU, memory, GPUs, EFA) and
// the bundled on-demand prices; see tests/e2e/rehearsal/karpenter.py for how each field is made.

import (
	"encoding/json"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	"sigs.k8s.io/karpenter/pkg/scheduling"
)

type catalogueOffering struct {
	Zone         string  `json:"zone"`
	CapacityType string  `json:"capacityType"`
	Price        float64 `json:"price"`
}

type catalogueOverhead struct {
	KubeReserved      map[string]string `json:"kubeReserved"`
	SystemReserved    map[string]string `json:"systemReserved"`
	EvictionThreshold map[string]string `json:"evictionThreshold"`
}

type catalogueType struct {
	Name string `json:"name"`
	// Well-known label -> value; null: the type has no such value (DoesNotExist).
	Labels    map[string]*string  `json:"labels"`
	Capacity  map[string]string   `json:"capacity"`
	Overhead  catalogueOverhead   `json:"overhead"`
	Offerings []catalogueOffering `json:"offerings"`
}

type catalogue struct {
	// Auto Mode's well-known labels, registered with Karpenter so NodePool requirements on them
	// select instance types instead of being copied onto nodes as plain labels.
	WellKnownLabels []string        `json:"wellKnownLabels"`
	Types           []catalogueType `json:"types"`
}

func resourceList(values map[string]string) (corev1.ResourceList, error) {
	list := corev1.ResourceList{}
	for name, text := range values {
		quantity, err := resource.ParseQuantity(text)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		list[corev1.ResourceName(name)] = quantity
	}
	return list, nil
}

func loadCatalogue(path string) ([]*cloudprovider.InstanceType, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc catalogue
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	karpv1.WellKnownLabels = karpv1.WellKnownLabels.Insert(doc.WellKnownLabels...)
	var types []*cloudprovider.InstanceType
	for _, item := range doc.Types {
		capacity, err := resourceList(item.Capacity)
		if err != nil {
			return nil, fmt.Errorf("%s capacity: %w", item.Name, err)
		}
		kube, err := resourceList(item.Overhead.KubeReserved)
		if err != nil {
			return nil, fmt.Errorf("%s kubeReserved: %w", item.Name, err)
		}
		system, err := resourceList(item.Overhead.SystemReserved)
		if err != nil {
			return nil, fmt.Errorf("%s systemReserved: %w", item.Name, err)
		}
		eviction, err := resourceList(item.Overhead.EvictionThreshold)
		if err != nil {
			return nil, fmt.Errorf("%s evictionThreshold: %w", item.Name, err)
		}
		zones, capacityTypes := []string{}, []string{}
		offerings := cloudprovider.Offerings{}
		for _, offer := range item.Offerings {
			zones = append(zones, offer.Zone)
			capacityTypes = append(capacityTypes, offer.CapacityType)
			offerings = append(offerings, &cloudprovider.Offering{
				Requirements: scheduling.NewRequirements(
					scheduling.NewRequirement(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, offer.Zone),
					scheduling.NewRequirement(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, offer.CapacityType),
				),
				Price:     offer.Price,
				Available: true,
			})
		}
		// "Requirements ... Must be defined for every well known label, even if empty"
		// (pkg/cloudprovider/types.go): a label the type lacks is DoesNotExist.
		requirements := scheduling.NewRequirements(
			scheduling.NewRequirement(corev1.LabelInstanceTypeStable, corev1.NodeSelectorOpIn, item.Name),
			scheduling.NewRequirement(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, zones...),
			scheduling.NewRequirement(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, capacityTypes...),
		)
		for key, value := range item.Labels {
			if value == nil {
				requirements.Add(scheduling.NewRequirement(key, corev1.NodeSelectorOpDoesNotExist))
			} else {
				requirements.Add(scheduling.NewRequirement(key, corev1.NodeSelectorOpIn, *value))
			}
		}
		types = append(types, &cloudprovider.InstanceType{
			Name:         item.Name,
			Requirements: requirements,
			Offerings:    offerings,
			Capacity:     capacity,
			Overhead: &cloudprovider.InstanceTypeOverhead{
				KubeReserved:      kube,
				SystemReserved:    system,
				EvictionThreshold: eviction,
			},
		})
	}
	return types, nil
}
