// Package k8s holds printfleet's Kubernetes deployment — the Helm chart
// (helm/printfleet), the kubectl manifests rendered from it (manifests/) and
// the dashboards and alerts (observability/) — and the tests that render the
// chart with each values file, decode every object strictly and check the
// invariants the platform relies on.
package k8s
