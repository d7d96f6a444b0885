package k8s

import (
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// pod is a traffic endpoint for the policy evaluator.
type pod struct {
	namespace string
	labels    map[string]string
}

var nsLabels = func(ns string) labels.Set { return labels.Set{"kubernetes.io/metadata.name": ns} }

func selects(sel *metav1.LabelSelector, set labels.Set) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		panic(err)
	}
	return s.Matches(set)
}

// peerMatches follows the NetworkPolicy rules: podSelector alone means the
// policy's namespace, namespaceSelector alone every pod there, both means both.
func peerMatches(peer networkingv1.NetworkPolicyPeer, policyNS string, p pod) bool {
	if peer.IPBlock != nil {
		return false // pod-to-pod traffic is decided by selectors here
	}
	if peer.NamespaceSelector == nil {
		if p.namespace != policyNS {
			return false
		}
	} else if !selects(peer.NamespaceSelector, nsLabels(p.namespace)) {
		return false
	}
	return peer.PodSelector == nil || selects(peer.PodSelector, p.labels)
}

func portMatches(ports []networkingv1.NetworkPolicyPort, proto corev1.Protocol, port int32) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		pp := corev1.ProtocolTCP
		if p.Protocol != nil {
			pp = *p.Protocol
		}
		if pp == proto && (p.Port == nil || p.Port.IntVal == port) {
			return true
		}
	}
	return false
}

func hasType(np *networkingv1.NetworkPolicy, t networkingv1.PolicyType) bool {
	return slices.Contains(np.Spec.PolicyTypes, t)
}

// allowed evaluates both ends: the source's egress and the destination's
// ingress must allow the connection.
func allowed(pols []*networkingv1.NetworkPolicy, src, dst pod, proto corev1.Protocol, port int32) bool {
	ingressOK, isolated := false, false
	for _, np := range pols {
		if np.Namespace != dst.namespace || !hasType(np, networkingv1.PolicyTypeIngress) || !selects(&np.Spec.PodSelector, dst.labels) {
			continue
		}
		isolated = true
		for _, rule := range np.Spec.Ingress {
			from := len(rule.From) == 0
			for _, peer := range rule.From {
				from = from || peerMatches(peer, np.Namespace, src)
			}
			if from && portMatches(rule.Ports, proto, port) {
				ingressOK = true
			}
		}
	}
	if isolated && !ingressOK {
		return false
	}
	egressOK, isolated := false, false
	for _, np := range pols {
		if np.Namespace != src.namespace || !hasType(np, networkingv1.PolicyTypeEgress) || !selects(&np.Spec.PodSelector, src.labels) {
			continue
		}
		isolated = true
		for _, rule := range np.Spec.Egress {
			to := len(rule.To) == 0
			for _, peer := range rule.To {
				to = to || peerMatches(peer, np.Namespace, dst)
			}
			if to && portMatches(rule.Ports, proto, port) {
				egressOK = true
			}
		}
	}
	return !isolated || egressOK
}

func fleetPod(comp string) pod {
	return pod{namespace: "printfleet", labels: map[string]string{
		"app.kubernetes.io/name": "printfleet", "app.kubernetes.io/instance": "printfleet", "app.kubernetes.io/component": comp,
	}}
}

func TestNetworkPolicies(t *testing.T) {
	t.Parallel()
	const (
		gwHTTP, gwAdmin                        = 8080, 9200
		ordersGRPC, catalogGRPC, pricingGRPC   = 9101, 9102, 9103
		ordersAdmin, imagesAdmin, workersAdmin = 9201, 9204, 9207
		catalogWorkerAdmin, pricingWorkerAdmin = 9208, 9209
	)
	ingressCtl := pod{namespace: "ingress-nginx", labels: map[string]string{"app.kubernetes.io/name": "ingress-nginx"}}
	prometheus := pod{namespace: "monitoring", labels: map[string]string{"app.kubernetes.io/name": "prometheus"}}
	dns := pod{namespace: "kube-system", labels: map[string]string{"k8s-app": "kube-dns"}}
	stranger := pod{namespace: "default", labels: map[string]string{"app": "other"}}
	neighbour := pod{namespace: "printfleet", labels: map[string]string{"app": "other"}}
	external := pod{namespace: "outside", labels: map[string]string{}} // stands for any address

	type flow struct {
		src, dst pod
		proto    corev1.Protocol
		port     int32
		want     bool
	}
	tcp := corev1.ProtocolTCP
	flows := map[string]flow{
		"ingress controller → gateway http":  {ingressCtl, fleetPod("gateway"), tcp, gwHTTP, true},
		"ingress controller → gateway admin": {ingressCtl, fleetPod("gateway"), tcp, gwAdmin, false},
		"ingress controller → orders grpc":   {ingressCtl, fleetPod("orders"), tcp, ordersGRPC, false},
		"stranger → gateway http":            {stranger, fleetPod("gateway"), tcp, gwHTTP, false},
		"neighbour pod → orders grpc":        {neighbour, fleetPod("orders"), tcp, ordersGRPC, false},
		"neighbour pod → gateway http":       {neighbour, fleetPod("gateway"), tcp, gwHTTP, false},
		"gateway → orders grpc":              {fleetPod("gateway"), fleetPod("orders"), tcp, ordersGRPC, true},
		"gateway → catalog grpc":             {fleetPod("gateway"), fleetPod("catalog"), tcp, catalogGRPC, true},
		"gateway → pricing grpc":             {fleetPod("gateway"), fleetPod("pricing"), tcp, pricingGRPC, true},
		"gateway → orders admin":             {fleetPod("gateway"), fleetPod("orders"), tcp, ordersAdmin, false},
		"orders → catalog grpc":              {fleetPod("orders"), fleetPod("catalog"), tcp, catalogGRPC, true},
		"orders → pricing grpc":              {fleetPod("orders"), fleetPod("pricing"), tcp, pricingGRPC, true},
		"catalog → orders grpc":              {fleetPod("catalog"), fleetPod("orders"), tcp, ordersGRPC, false},
		"pricing → catalog grpc":             {fleetPod("pricing"), fleetPod("catalog"), tcp, catalogGRPC, false},
		"images → orders grpc":               {fleetPod("images"), fleetPod("orders"), tcp, ordersGRPC, false},
		"images → catalog grpc":              {fleetPod("images"), fleetPod("catalog"), tcp, catalogGRPC, false},
		"marketplace → catalog grpc":         {fleetPod("marketplace"), fleetPod("catalog"), tcp, catalogGRPC, true},
		"marketplace → orders grpc":          {fleetPod("marketplace"), fleetPod("orders"), tcp, ordersGRPC, true}, // ImportOrder
		"orders-worker → pricing grpc":       {fleetPod("orders-worker"), fleetPod("pricing"), tcp, pricingGRPC, false},
		"catalog-worker → catalog grpc":      {fleetPod("catalog-worker"), fleetPod("catalog"), tcp, catalogGRPC, false},
		"catalog-worker → orders grpc":       {fleetPod("catalog-worker"), fleetPod("orders"), tcp, ordersGRPC, false},
		"pricing-worker → pricing grpc":      {fleetPod("pricing-worker"), fleetPod("pricing"), tcp, pricingGRPC, false},
		"gateway → catalog-worker admin":     {fleetPod("gateway"), fleetPod("catalog-worker"), tcp, catalogWorkerAdmin, false},
		"catalog → catalog-worker admin":     {fleetPod("catalog"), fleetPod("catalog-worker"), tcp, catalogWorkerAdmin, false},
		"orders → pricing-worker admin":      {fleetPod("orders"), fleetPod("pricing-worker"), tcp, pricingWorkerAdmin, false},
		"catalog-worker → PostgreSQL":        {fleetPod("catalog-worker"), external, tcp, 5432, true},
		"catalog-worker → Redis":             {fleetPod("catalog-worker"), external, tcp, 6379, true},
		"catalog-worker → S3":                {fleetPod("catalog-worker"), external, tcp, 443, true},
		"pricing-worker → RabbitMQ":          {fleetPod("pricing-worker"), external, tcp, 5672, true},
		"pricing-worker → SMTP":              {fleetPod("pricing-worker"), external, tcp, 25, false},
		"task → PostgreSQL":                  {fleetPod("catalog-rebuild-projections"), external, tcp, 5432, true},
		"task → Redis":                       {fleetPod("catalog-rebuild-projections"), external, tcp, 6379, true},
		"task → catalog grpc":                {fleetPod("catalog-rebuild-projections"), fleetPod("catalog"), tcp, catalogGRPC, false},
		"gateway → task":                     {fleetPod("gateway"), fleetPod("pricing-coupons"), tcp, 9203, false},
		"images → gateway http":              {fleetPod("images"), fleetPod("gateway"), tcp, gwHTTP, false},
		"prometheus → gateway admin":         {prometheus, fleetPod("gateway"), tcp, gwAdmin, true},
		"prometheus → orders admin":          {prometheus, fleetPod("orders"), tcp, ordersAdmin, true},
		"prometheus → images admin":          {prometheus, fleetPod("images"), tcp, imagesAdmin, true},
		"prometheus → orders-worker admin":   {prometheus, fleetPod("orders-worker"), tcp, workersAdmin, true},
		"prometheus → catalog-worker admin":  {prometheus, fleetPod("catalog-worker"), tcp, catalogWorkerAdmin, true},
		"prometheus → pricing-worker admin":  {prometheus, fleetPod("pricing-worker"), tcp, pricingWorkerAdmin, true},
		"stranger → catalog-worker admin":    {stranger, fleetPod("catalog-worker"), tcp, catalogWorkerAdmin, false},
		"prometheus → orders grpc":           {prometheus, fleetPod("orders"), tcp, ordersGRPC, false},
		"stranger → orders admin":            {stranger, fleetPod("orders"), tcp, ordersAdmin, false},
		"gateway → cluster DNS":              {fleetPod("gateway"), dns, corev1.ProtocolUDP, 53, true},
		"images → cluster DNS":               {fleetPod("images"), dns, corev1.ProtocolUDP, 53, true},
		"orders → PostgreSQL":                {fleetPod("orders"), external, tcp, 5432, true},
		"gateway → SMTP":                     {fleetPod("gateway"), external, tcp, 25, false},
		"neighbour pod → anywhere":           {neighbour, external, tcp, 443, false},
		"gateway → webhooks grpc":            {fleetPod("gateway"), fleetPod("webhooks"), tcp, 9104, true},
		"gateway → ops grpc":                 {fleetPod("gateway"), fleetPod("ops"), tcp, 9105, true},
		"orders → ops grpc":                  {fleetPod("orders"), fleetPod("ops"), tcp, 9105, false},
		"prometheus → ops admin":             {prometheus, fleetPod("ops"), tcp, 9212, true},
		"webhooks → orders grpc":             {fleetPod("webhooks"), fleetPod("orders"), tcp, ordersGRPC, true}, // SetWebhookSubscriber
		"webhooks → catalog grpc":            {fleetPod("webhooks"), fleetPod("catalog"), tcp, catalogGRPC, false},
		"orders → webhooks grpc":             {fleetPod("orders"), fleetPod("webhooks"), tcp, 9104, false},
		"neighbour pod → webhooks grpc":      {neighbour, fleetPod("webhooks"), tcp, 9104, false},
		"prometheus → webhooks admin":        {prometheus, fleetPod("webhooks"), tcp, 9210, true},
		"gateway → webhooks admin":           {fleetPod("gateway"), fleetPod("webhooks"), tcp, 9210, false},
	}
	for _, name := range []string{"default", "production"} {
		r := renderAll(t)[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var deny *networkingv1.NetworkPolicy
			for _, np := range r.policies {
				if len(np.Spec.PodSelector.MatchLabels)+len(np.Spec.PodSelector.MatchExpressions) == 0 {
					deny = np
				}
			}
			if deny == nil || !hasType(deny, networkingv1.PolicyTypeIngress) || !hasType(deny, networkingv1.PolicyTypeEgress) ||
				len(deny.Spec.Ingress)+len(deny.Spec.Egress) != 0 {
				t.Fatalf("no default-deny policy (empty podSelector, Ingress and Egress, no rules)")
			}
			for what, f := range flows {
				if name == "production" && f.dst.namespace == "outside" {
					continue // production narrows the datastores to ipBlocks
				}
				if got := allowed(r.policies, f.src, f.dst, f.proto, f.port); got != f.want {
					t.Errorf("%s: allowed = %v, want %v", what, got, f.want)
				}
			}
			// Every Deployment's pods are covered by a policy of their own.
			for _, d := range r.deployments {
				var own bool
				for _, np := range r.policies {
					if np != deny && hasType(np, networkingv1.PolicyTypeIngress) && selects(&np.Spec.PodSelector, labels.Set(d.Spec.Template.Labels)) {
						own = true
					}
				}
				if !own {
					t.Errorf("Deployment %s has no ingress policy of its own", d.Name)
				}
			}
		})
	}
	// The development sandbox is reachable from its callers only.
	dev := renderAll(t)["dev"]
	for what, want := range map[string]bool{
		"orders-worker": true,
		"orders":        false,
		"gateway":       false,
		"images":        false,
	} {
		if got := allowed(dev.policies, fleetPod(what), fleetPod("sandbox"), corev1.ProtocolTCP, 9301); got != want {
			t.Errorf("dev: %s → sandbox payment: allowed = %v, want %v", what, got, want)
		}
	}
	for _, store := range []struct {
		name string
		port int32
	}{{"postgresql", 5432}, {"redis", 6379}, {"rabbitmq", 5672}, {"s3", 7070}} {
		if !allowed(dev.policies, fleetPod("catalog"), fleetPod(store.name), corev1.ProtocolTCP, store.port) {
			t.Errorf("dev: catalog → %s:%d is blocked", store.name, store.port)
		}
		if allowed(dev.policies, stranger, fleetPod(store.name), corev1.ProtocolTCP, store.port) {
			t.Errorf("dev: a pod of another namespace reaches %s", store.name)
		}
	}
}

// egressToIP reports whether the policies let src open proto/port to the
// address ip outside the cluster (ipBlock peers; a rule without peers
// allows every address).
func egressToIP(pols []*networkingv1.NetworkPolicy, src pod, ip netip.Addr, proto corev1.Protocol, port int32) bool {
	isolated := false
	for _, np := range pols {
		if np.Namespace != src.namespace || !hasType(np, networkingv1.PolicyTypeEgress) || !selects(&np.Spec.PodSelector, src.labels) {
			continue
		}
		isolated = true
		for _, rule := range np.Spec.Egress {
			if !portMatches(rule.Ports, proto, port) {
				continue
			}
			if len(rule.To) == 0 {
				return true
			}
			for _, peer := range rule.To {
				if peer.IPBlock != nil && inBlock(peer.IPBlock, ip) {
					return true
				}
			}
		}
	}
	return !isolated
}

func inBlock(b *networkingv1.IPBlock, ip netip.Addr) bool {
	if !netip.MustParsePrefix(b.CIDR).Contains(ip) {
		return false
	}
	for _, e := range b.Except {
		if netip.MustParsePrefix(e).Contains(ip) {
			return false
		}
	}
	return true
}

// TestWebhooksEgress: the webhooks pods POST to the sellers' endpoints, so
// they reach HTTPS on the internet but not the private ranges a seller's URL
// could point inside (RFC 1918, CGNAT, link-local with the metadata address,
// loopback, IPv6 unique-local and link-local) — with every policy of the
// release added up. Production's datastores are a named subnet, which stays
// reachable (the base policy lets every pod reach its datastores); the
// default values leave the datastore ports open everywhere, so there only
// the webhooks policy's own rule is checked.
func TestWebhooksEgress(t *testing.T) {
	t.Parallel()
	tcp := corev1.ProtocolTCP
	public := []string{"93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"}
	private := []string{"10.0.0.5", "10.96.0.1", "172.16.3.4", "192.168.1.10", "100.64.0.1", "169.254.169.254",
		"127.0.0.1", "fd00::1", "fe80::1", "::1"}
	for _, name := range []string{"default", "production", "dev"} {
		r := renderAll(t)[name]
		var own []*networkingv1.NetworkPolicy
		for _, np := range r.policies {
			if np.Spec.PodSelector.MatchLabels["app.kubernetes.io/component"] == "webhooks" {
				own = append(own, np)
			}
		}
		if len(own) != 1 {
			t.Fatalf("%s: %d policies of the webhooks component", name, len(own))
		}
		pols := own
		if name == "production" {
			pols = r.policies
		}
		for _, a := range public {
			if !egressToIP(pols, fleetPod("webhooks"), netip.MustParseAddr(a), tcp, 443) {
				t.Errorf("%s: webhooks cannot reach %s:443", name, a)
			}
			if egressToIP(pols, fleetPod("webhooks"), netip.MustParseAddr(a), tcp, 80) {
				t.Errorf("%s: webhooks may reach %s:80 (https only)", name, a)
			}
		}
		for _, a := range private {
			if egressToIP(pols, fleetPod("webhooks"), netip.MustParseAddr(a), tcp, 443) {
				t.Errorf("%s: webhooks may reach the private address %s:443", name, a)
			}
		}
	}
}
