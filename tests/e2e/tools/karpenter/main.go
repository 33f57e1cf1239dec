// The rehearsal's Karpenter: Karpenter core's operator and controllers (sigs.k8s.io/karpenter),
// wired as its kwok/main.go wires them, with the Auto Mode cloud provider of this package.
//
// Environment: KUBECONFIG (the cluster), TOE_CLUSTER_NAME, TOE_INSTANCE_TYPES (the catalogue
// JSON), AWS_ENDPOINT_URL and AWS_REGION (EC2); Karpenter's own flags and variables otherwise.
package main

import (
	"net/http"
	"os"
	"time"

	"github.com/samber/lo"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"sigs.k8s.io/karpenter/pkg/cloudprovider/overlay"
	"sigs.k8s.io/karpenter/pkg/controllers"
	"sigs.k8s.io/karpenter/pkg/controllers/node/health"
	"sigs.k8s.io/karpenter/pkg/controllers/state"
	"sigs.k8s.io/karpenter/pkg/operator"
)

func main() {
	ctx, op := operator.NewOperator()
	instanceTypes, err := loadCatalogue(os.Getenv("TOE_INSTANCE_TYPES"))
	if err != nil {
		log.FromContext(ctx).Error(err, "failed reading the instance type catalogue")
		os.Exit(1)
	}
	autoMode := &AutoMode{
		kube:          op.GetClient(),
		ec2:           &EC2{Endpoint: os.Getenv("AWS_ENDPOINT_URL"), Region: os.Getenv("AWS_REGION"), HTTP: &http.Client{Timeout: 30 * time.Second}},
		cluster:       os.Getenv("TOE_CLUSTER_NAME"),
		instanceTypes: instanceTypes,
	}
	cloudProvider := overlay.Decorate(autoMode, op.GetClient(), op.InstanceTypeStore)
	repairPolicyMatcher := lo.Must(health.NewRepairPolicyMatcher(ctx, cloudProvider))
	clusterState := state.NewCluster(op.Clock, op.GetClient(), cloudProvider, state.WithRepairPolicyMatcher(repairPolicyMatcher))
	op.
		WithControllers(ctx, controllers.NewControllers(
			ctx,
			op.Manager,
			op.Clock,
			op.GetClient(),
			op.EventRecorder,
			cloudProvider,
			autoMode,
			clusterState,
			op.InstanceTypeStore,
			op.PredictionStore,
		)...).Start(ctx)
}
