package k8s

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/printfleet/printfleet/deploy/internal/render"
)

// valueSets are the configurations every test renders.
var valueSets = []struct {
	name   string
	files  []string
	values map[string]any
}{
	{name: "default"},
	{name: "production", files: []string{"values-production.yaml"}},
	{name: "dev", files: []string{"values-dev.yaml"}},
	// Every optional part switched on at once.
	{name: "everything", files: []string{"values-production.yaml"}, values: map[string]any{
		"demo":       map[string]any{"seed": true},
		"components": map[string]any{"sandbox": map[string]any{"enabled": true}},
		"dev": map[string]any{
			"postgresql": map[string]any{"enabled": true}, "redis": map[string]any{"enabled": true},
			"rabbitmq": map[string]any{"enabled": true}, "s3": map[string]any{"enabled": true},
		},
	}},
}

const chartDir = "helm/printfleet"

// The fleet's long-running processes, by kind.
var (
	grpcServices = []string{"orders", "catalog", "pricing", "webhooks", "ops"}
	autoscaled   = []string{"gateway", "orders", "catalog", "pricing", "webhooks"}
	queueWorkers = []string{"orders-worker", "catalog-worker", "pricing-worker", "images", "marketplace"}
	// The one-shot binaries the chart offers as on-demand tasks.
	tasks = []string{"catalog-rebuild-projections", "catalog-seed-demo", "pricing-seed-demo", "pricing-coupons"}
)

// rendered is one value set's objects, decoded.
type rendered struct {
	docs         []render.Document
	deployments  []*appsv1.Deployment
	jobs         []*batchv1.Job
	cronJobs     []*batchv1.CronJob
	services     []*corev1.Service
	configMaps   []*corev1.ConfigMap
	pdbs         []*policyv1.PodDisruptionBudget
	hpas         []*autoscalingv2.HorizontalPodAutoscaler
	policies     []*networkingv1.NetworkPolicy
	ingresses    []*networkingv1.Ingress
	monitors     []*serviceMonitor
	rules        []*prometheusRule
	scaled       []*scaledObject
	triggerAuths []*triggerAuthentication
	certificates []*certificate
}

var (
	renderOnce sync.Once
	renders    map[string]*rendered
	renderErr  error
)

// renderAll renders and strictly decodes every value set once per test binary.
func renderAll(t *testing.T) map[string]*rendered {
	t.Helper()
	renderOnce.Do(func() {
		renders = map[string]*rendered{}
		for _, vs := range valueSets {
			var files []string
			for _, f := range vs.files {
				files = append(files, filepath.Join(chartDir, f))
			}
			docs, err := render.Chart(render.Options{ChartDir: chartDir, ValuesFiles: files, Values: vs.values})
			if err != nil {
				renderErr = fmt.Errorf("%s: %w", vs.name, err)
				return
			}
			r, err := decodeAll(docs)
			if err != nil {
				renderErr = fmt.Errorf("%s: %w", vs.name, err)
				return
			}
			renders[vs.name] = r
		}
	})
	if renderErr != nil {
		t.Fatal(renderErr)
	}
	return renders
}

// strict rejects unknown and duplicate fields, unlike the default decoder.
var strict = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

func decodeAll(docs []render.Document) (*rendered, error) {
	r := &rendered{docs: docs}
	for _, d := range docs {
		where := fmt.Sprintf("%s: %s %s", d.Source, d.Kind, d.Name)
		var crd any
		switch d.Kind {
		case "ServiceMonitor":
			m := &serviceMonitor{}
			r.monitors, crd = append(r.monitors, m), m
		case "PrometheusRule":
			m := &prometheusRule{}
			r.rules, crd = append(r.rules, m), m
		case "ScaledObject":
			m := &scaledObject{}
			r.scaled, crd = append(r.scaled, m), m
		case "TriggerAuthentication":
			m := &triggerAuthentication{}
			r.triggerAuths, crd = append(r.triggerAuths, m), m
		case "Certificate":
			m := &certificate{}
			r.certificates, crd = append(r.certificates, m), m
		}
		if crd != nil {
			if err := yaml.UnmarshalStrict([]byte(d.YAML), crd); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			continue
		}
		obj, _, err := strict.Decode([]byte(d.YAML), nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if err := namespaced(obj); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		switch o := obj.(type) {
		case *appsv1.Deployment:
			r.deployments = append(r.deployments, o)
		case *batchv1.Job:
			r.jobs = append(r.jobs, o)
		case *batchv1.CronJob:
			r.cronJobs = append(r.cronJobs, o)
		case *corev1.Service:
			r.services = append(r.services, o)
		case *corev1.ConfigMap:
			r.configMaps = append(r.configMaps, o)
		case *policyv1.PodDisruptionBudget:
			r.pdbs = append(r.pdbs, o)
		case *autoscalingv2.HorizontalPodAutoscaler:
			r.hpas = append(r.hpas, o)
		case *networkingv1.NetworkPolicy:
			r.policies = append(r.policies, o)
		case *networkingv1.Ingress:
			r.ingresses = append(r.ingresses, o)
		case *corev1.ServiceAccount:
		case *corev1.Secret:
			return nil, fmt.Errorf("%s: the chart must not create Secrets (it references existing ones)", where)
		default:
			return nil, fmt.Errorf("%s: a kind this test does not check (%T); add it", where, obj)
		}
	}
	return r, nil
}

// namespaced makes sure every object names its namespace, so the kubectl
// manifests land in it.
func namespaced(obj runtime.Object) error {
	m, ok := obj.(metav1.Object)
	if !ok {
		return fmt.Errorf("%T has no metadata", obj)
	}
	if m.GetNamespace() != "printfleet" {
		return fmt.Errorf("metadata.namespace = %q, want the release namespace", m.GetNamespace())
	}
	return nil
}

func TestStrictDecodingCatchesTypos(t *testing.T) {
	t.Parallel()
	// The strict decoder is what makes every other test meaningful.
	const typo = `apiVersion: apps/v1
kind: Deployment
metadata: {name: x, namespace: printfleet}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers:
        - name: x
          image: x
          imagePullPolicyy: Always
`
	if _, _, err := strict.Decode([]byte(typo), nil, nil); err == nil || !strings.Contains(err.Error(), "imagePullPolicyy") {
		t.Fatalf("strict decode of a misspelled field: err = %v", err)
	}
	var sm serviceMonitor
	if err := yaml.UnmarshalStrict([]byte("apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x}\nspec: {endpoint: []}\n"), &sm); err == nil {
		t.Fatal("strict decode of a ServiceMonitor with a misspelled field succeeded")
	}
}

func TestRenders(t *testing.T) {
	t.Parallel()
	rs := renderAll(t)
	for name, r := range rs {
		if len(r.deployments) == 0 {
			t.Errorf("%s: no Deployments", name)
		}
	}
	// Toggles do what they say.
	if d := rs["default"]; len(d.monitors)+len(d.rules)+len(d.scaled)+len(d.jobs) != 0 {
		t.Error("default values render optional objects (ServiceMonitor, PrometheusRule, ScaledObject or Job)")
	}
	p := rs["production"]
	if len(p.monitors) == 0 || len(p.rules) != 1 || len(p.scaled) != len(queueWorkers) || len(p.triggerAuths) != 1 {
		t.Errorf("production: %d ServiceMonitors, %d PrometheusRules, %d ScaledObjects, %d TriggerAuthentications",
			len(p.monitors), len(p.rules), len(p.scaled), len(p.triggerAuths))
	}
	if len(rs["dev"].jobs) != 2 {
		t.Errorf("dev: %d Jobs, want the two demo seeds", len(rs["dev"].jobs))
	}
	// No migration hook: no binary migrates on its own (the services
	// migrate at start), so a hook Job could never succeed.
	if len(rs["everything"].jobs) != 2 {
		t.Errorf("everything: %d Jobs, want the 2 seeds", len(rs["everything"].jobs))
	}
	// The on-demand tasks are there in every value set, and never run by
	// themselves.
	for name, r := range rs {
		var got []string
		for _, cj := range r.cronJobs {
			got = append(got, component(cj))
			if cj.Spec.Suspend == nil || !*cj.Spec.Suspend {
				t.Errorf("%s: CronJob %s is not suspended: a task runs only when an operator creates a Job from it", name, cj.Name)
			}
			if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
				t.Errorf("%s: CronJob %s allows concurrent runs", name, cj.Name)
			}
		}
		slices.Sort(got)
		if want := slices.Sorted(slices.Values(tasks)); !slices.Equal(got, want) {
			t.Errorf("%s: tasks %v, want %v", name, got, want)
		}
	}
	off, err := render.Chart(render.Options{ChartDir: chartDir, Values: map[string]any{"tasks": map[string]any{"enabled": false}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range off {
		if d.Kind == "CronJob" {
			t.Errorf("tasks.enabled=false renders CronJob %s", d.Name)
		}
	}
}

func component(o metav1.Object) string { return o.GetLabels()["app.kubernetes.io/component"] }

// workload is one pod template of a Deployment, Job or CronJob.
type workload struct {
	what, comp string
	spec       *corev1.PodSpec
}

func (r *rendered) workloads() []workload {
	var out []workload
	for _, d := range r.deployments {
		out = append(out, workload{"Deployment " + d.Name, component(d), &d.Spec.Template.Spec})
	}
	for _, j := range r.jobs {
		out = append(out, workload{"Job " + j.Name, component(j), &j.Spec.Template.Spec})
	}
	for _, cj := range r.cronJobs {
		out = append(out, workload{"CronJob " + cj.Name, component(cj), &cj.Spec.JobTemplate.Spec.Template.Spec})
	}
	return out
}

func TestWorkloadInvariants(t *testing.T) {
	t.Parallel()
	for name, r := range renderAll(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, d := range r.deployments {
				checkPod(t, "Deployment "+d.Name, &d.Spec.Template.Spec, true)
				if d.Spec.Template.Spec.AutomountServiceAccountToken == nil || *d.Spec.Template.Spec.AutomountServiceAccountToken {
					t.Errorf("Deployment %s mounts a service account token; nothing calls the API", d.Name)
				}
			}
			for _, j := range r.jobs {
				checkPod(t, "Job "+j.Name, &j.Spec.Template.Spec, false)
				if j.Annotations["helm.sh/hook"] == "" {
					t.Errorf("Job %s is not a Helm hook", j.Name)
				}
			}
			for _, cj := range r.cronJobs {
				checkPod(t, "CronJob "+cj.Name, &cj.Spec.JobTemplate.Spec.Template.Spec, false)
				if cj.Spec.JobTemplate.Spec.Template.Spec.AutomountServiceAccountToken == nil || *cj.Spec.JobTemplate.Spec.Template.Spec.AutomountServiceAccountToken {
					t.Errorf("CronJob %s mounts a service account token; nothing calls the API", cj.Name)
				}
			}
		})
	}
}

func checkPod(t *testing.T, what string, pod *corev1.PodSpec, probes bool) {
	t.Helper()
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	ports := map[string]int32{}
	for _, c := range pod.Containers {
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
	}
	for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
		where := fmt.Sprintf("%s container %s", what, c.Name)
		if probes {
			if c.ReadinessProbe == nil || c.LivenessProbe == nil {
				t.Errorf("%s: readiness and liveness probes are required", where)
			}
			for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
				if p != nil {
					checkProbePort(t, where, p, ports)
				}
			}
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, lim := c.Resources.Requests[res], c.Resources.Limits[res]
			if req.IsZero() || lim.IsZero() {
				t.Errorf("%s: %s request and limit are required", where, res)
			} else if req.Cmp(lim) > 0 {
				t.Errorf("%s: %s request %s exceeds the limit %s", where, res, req.String(), lim.String())
			}
		}
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("%s: no securityContext", where)
			continue
		}
		nonRoot := sc.RunAsNonRoot
		if nonRoot == nil {
			nonRoot = psc.RunAsNonRoot
		}
		if nonRoot == nil || !*nonRoot {
			t.Errorf("%s: runAsNonRoot is not set", where)
		}
		uid := sc.RunAsUser
		if uid == nil {
			uid = psc.RunAsUser
		}
		if uid == nil || *uid == 0 {
			t.Errorf("%s: runAsUser must be a non-zero uid", where)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: readOnlyRootFilesystem is not true", where)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: allowPrivilegeEscalation is not false", where)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("%s: privileged", where)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s: capabilities must drop ALL and add none", where)
		}
		seccomp := sc.SeccompProfile
		if seccomp == nil {
			seccomp = psc.SeccompProfile
		}
		if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: seccomp profile is not RuntimeDefault", where)
		}
		checkEnv(t, where, c)
	}
}

func checkProbePort(t *testing.T, where string, p *corev1.Probe, ports map[string]int32) {
	t.Helper()
	has := func(port int32) bool {
		for _, n := range ports {
			if n == port {
				return true
			}
		}
		return false
	}
	switch {
	case p.GRPC != nil:
		if !has(p.GRPC.Port) {
			t.Errorf("%s: gRPC probe on %d, not a container port", where, p.GRPC.Port)
		}
	case p.HTTPGet != nil:
		port := p.HTTPGet.Port
		if port.StrVal != "" {
			if _, ok := ports[port.StrVal]; !ok {
				t.Errorf("%s: probe on the unknown port name %q", where, port.StrVal)
			}
		} else if !has(port.IntVal) {
			t.Errorf("%s: probe on %d, not a container port", where, port.IntVal)
		}
	}
}

// secretish names environment variables whose values are secrets: they must
// come from a Secret, never a literal or a ConfigMap.
var secretish = regexp.MustCompile(`SECRET|PASSWORD|PASS$|TOKEN$|_KEY$|API_KEY|CREDENTIALS|_PG_URL$|_PG_READ_URL$|_AMQP_URL$`)

func checkEnv(t *testing.T, where string, c corev1.Container) {
	t.Helper()
	for _, e := range c.Env {
		if !secretish.MatchString(e.Name) {
			continue
		}
		if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("%s: %s must come from a secretKeyRef", where, e.Name)
		}
	}
}

func TestProbesFollowTheKind(t *testing.T) {
	t.Parallel()
	for name, r := range renderAll(t) {
		for _, d := range r.deployments {
			comp := component(d)
			c := d.Spec.Template.Spec.Containers[0]
			switch {
			case slices.Contains(grpcServices, comp):
				for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
					if p == nil || p.GRPC == nil {
						t.Errorf("%s: %s: probes must be native gRPC probes on the health service", name, d.Name)
					}
				}
			case comp == "gateway" || slices.Contains(queueWorkers, comp):
				if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.StrVal != "admin" {
					t.Errorf("%s: %s: readiness must be GET /readyz on the admin port", name, d.Name)
				}
				if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.StrVal != "admin" {
					t.Errorf("%s: %s: liveness must be GET /healthz on the admin port", name, d.Name)
				}
			}
		}
	}
}

func TestEveryDeploymentHasPDBAndService(t *testing.T) {
	t.Parallel()
	for name, r := range renderAll(t) {
		for _, d := range r.deployments {
			podLabels := labels.Set(d.Spec.Template.Labels)
			sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
			if err != nil || !sel.Matches(podLabels) {
				t.Errorf("%s: Deployment %s's selector does not match its pods", name, d.Name)
			}
			var pdbs int
			for _, p := range r.pdbs {
				s, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
				if err != nil {
					t.Fatal(err)
				}
				if s.Matches(podLabels) {
					pdbs++
				}
			}
			if pdbs != 1 {
				t.Errorf("%s: Deployment %s is covered by %d PodDisruptionBudgets, want 1", name, d.Name, pdbs)
			}
			var svc *corev1.Service
			for _, s := range r.services {
				if s.Spec.ClusterIP != corev1.ClusterIPNone && labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) {
					svc = s
				}
			}
			if svc == nil {
				t.Errorf("%s: Deployment %s has no Service", name, d.Name)
				continue
			}
			ports := map[string]bool{}
			for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
				ports[p.Name] = true
			}
			for _, p := range svc.Spec.Ports {
				if !ports[p.TargetPort.StrVal] {
					t.Errorf("%s: Service %s targets port %q, which Deployment %s does not name", name, svc.Name, p.TargetPort.String(), d.Name)
				}
			}
		}
	}
}

func TestAutoscaling(t *testing.T) {
	t.Parallel()
	for name, r := range renderAll(t) {
		targets := map[string]bool{}
		for _, h := range r.hpas {
			targets[h.Spec.ScaleTargetRef.Name] = true
			if *h.Spec.MinReplicas > h.Spec.MaxReplicas {
				t.Errorf("%s: HPA %s min > max", name, h.Name)
			}
		}
		for _, s := range r.scaled {
			targets[s.Spec.ScaleTargetRef.Name] = true
			for _, tr := range s.Spec.Triggers {
				if tr.Type != "rabbitmq" || tr.Metadata["queueName"] == "" || tr.Metadata["mode"] != "QueueLength" || tr.AuthenticationRef.Name == "" {
					t.Errorf("%s: ScaledObject %s: trigger %+v", name, s.Metadata.Name, tr)
				}
			}
		}
		for _, d := range r.deployments {
			comp := component(d)
			if targets[d.Name] && d.Spec.Replicas != nil {
				t.Errorf("%s: Deployment %s sets replicas and is autoscaled: every upgrade would reset the scale", name, d.Name)
			}
			if name != "dev" && slices.Contains(autoscaled, comp) && !targets[d.Name] {
				t.Errorf("%s: %s has no HorizontalPodAutoscaler", name, d.Name)
			}
		}
		for target := range targets {
			if !slices.ContainsFunc(r.deployments, func(d *appsv1.Deployment) bool { return d.Name == target }) {
				t.Errorf("%s: autoscaler targets %s, which is not a Deployment", name, target)
			}
		}
	}
}

func TestNoSecretValuesInConfigMaps(t *testing.T) {
	t.Parallel()
	userinfo := regexp.MustCompile(`://[^/@\s]+:[^/@\s]+@`)
	for name, r := range renderAll(t) {
		for _, cm := range r.configMaps {
			for k, v := range cm.Data {
				if secretish.MatchString(k) {
					t.Errorf("%s: ConfigMap %s holds %s, a secret", name, cm.Name, k)
				}
				if userinfo.MatchString(v) {
					t.Errorf("%s: ConfigMap %s key %s holds credentials in a URL", name, cm.Name, k)
				}
			}
		}
	}
}

// TestValuesHoldNoSecrets walks every values file: secret-looking keys may
// only name Secrets (under secrets:) or reference them (secretEnv), and no
// value carries credentials.
func TestValuesHoldNoSecrets(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join(chartDir, "values*.yaml"))
	if len(files) < 3 {
		t.Fatalf("values files: %v", files)
	}
	userinfo := regexp.MustCompile(`://[^/@\s]+:[^/@\s]+@`)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := yaml.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var walk func(path string, x any)
		walk = func(path string, x any) {
			switch x := x.(type) {
			case map[string]any:
				for k, v := range x {
					walk(path+"."+k, v)
				}
			case []any:
				for i, v := range x {
					walk(fmt.Sprintf("%s[%d]", path, i), v)
				}
			case string:
				key := path[strings.LastIndex(path, ".")+1:]
				// Names of Secrets and references to their keys are fine.
				inRefs := strings.HasPrefix(path, ".secrets.") || strings.Contains(path, ".secretEnv[") || key == "secretName"
				if !inRefs && secretish.MatchString(strings.ToUpper(key)) && x != "" {
					t.Errorf("%s: %s = %q looks like a secret value", f, path, x)
				}
				if userinfo.MatchString(x) {
					t.Errorf("%s: %s carries credentials in a URL", f, path)
				}
			}
		}
		walk("", v)
	}
}

// builtBinaries reads build.sh's image table: image name → the binaries it
// holds (the last element of each main package).
func builtBinaries(t *testing.T) map[string][]string {
	t.Helper()
	script, err := os.ReadFile("../docker/build.sh")
	if err != nil {
		t.Fatal(err)
	}
	table := regexp.MustCompile(`(?s)\nIMAGES=\((.*?)\n\)`).FindSubmatch(script)
	if table == nil {
		t.Fatal("no IMAGES=( … ) table in build.sh")
	}
	built := map[string][]string{}
	// A row may wrap: "<name> <Dockerfile> <package>…".
	for _, m := range regexp.MustCompile(`"([a-z-]+)\s+Dockerfile\S*\s+([^"]+)"`).FindAllSubmatch(table[1], -1) {
		for _, pkg := range strings.Fields(string(m[2])) {
			if !strings.Contains(pkg, "/cmd/") {
				t.Errorf("build.sh image %s: %q is not a main package path", m[1], pkg)
			}
			built[string(m[1])] = append(built[string(m[1])], pkg[strings.LastIndex(pkg, "/")+1:])
		}
	}
	if len(built) == 0 {
		t.Fatal("no images found in build.sh")
	}
	return built
}

// TestImagesAreBuilt checks every printfleet container of every Deployment,
// Job and task runs, by its command, a binary that build.sh builds into the
// container's image — one image per service, the binary picked by
// `command: [/usr/local/bin/<binary>]` — and that each process is named after
// its binary.
func TestImagesAreBuilt(t *testing.T) {
	t.Parallel()
	built := builtBinaries(t)
	for name, r := range renderAll(t) {
		for _, p := range r.workloads() {
			for _, c := range slices.Concat(p.spec.InitContainers, p.spec.Containers) {
				img := c.Image
				if !strings.Contains(img, "/printfleet/") && !strings.HasPrefix(img, "ghcr.io/printfleet/") {
					continue // the development datastores
				}
				repo := img[strings.LastIndex(img, "/")+1 : strings.LastIndex(img, ":")]
				binaries, ok := built[repo]
				if !ok {
					t.Errorf("%s: %s runs %s, which build.sh does not build", name, p.what, img)
					continue
				}
				if len(c.Command) != 1 || !strings.HasPrefix(c.Command[0], "/usr/local/bin/") {
					t.Errorf("%s: %s: command %q, want [/usr/local/bin/<binary>] (the images have no entrypoint)", name, p.what, c.Command)
					continue
				}
				bin := strings.TrimPrefix(c.Command[0], "/usr/local/bin/")
				if !slices.Contains(binaries, bin) {
					t.Errorf("%s: %s runs %s, which is not in image %s (build.sh: %v)", name, p.what, bin, repo, binaries)
				}
				if bin != p.comp {
					t.Errorf("%s: %s runs %s as component %q: one name per process", name, p.what, bin, p.comp)
				}
				if len(c.Args) > 0 {
					t.Errorf("%s: %s passes args %q: a binary is one process, with no subcommands", name, p.what, c.Args)
				}
			}
		}
	}
}

func TestIngressReachesTheGateway(t *testing.T) {
	t.Parallel()
	r := renderAll(t)["default"]
	if len(r.ingresses) != 1 {
		t.Fatalf("%d Ingresses, want 1", len(r.ingresses))
	}
	for _, rule := range r.ingresses[0].Spec.Rules {
		for _, p := range rule.HTTP.Paths {
			if b := p.Backend.Service; b == nil || b.Name != "printfleet-gateway" || b.Port.Name != "http" {
				t.Errorf("ingress path %s goes to %+v, want the gateway's http port", p.Path, p.Backend)
			}
		}
	}
}

// codeEnv collects what the code reads: env tag names, the prefixes nested
// structs add, and PRINTFLEET_* string literals (os.Getenv callers).
func codeEnv(t *testing.T) (names, prefixes map[string]bool, literals map[string]bool) {
	t.Helper()
	names, prefixes, literals = map[string]bool{}, map[string]bool{}, map[string]bool{}
	tag := regexp.MustCompile(`env:"([A-Z0-9_]*)\s*(?:,[^"]*?prefix=([A-Z0-9_]+))?`)
	lit := regexp.MustCompile(`"(PRINTFLEET_[A-Z0-9_]+)"`)
	for _, dir := range []string{"platform", "services", "workers", "sandbox"} {
		err := filepath.WalkDir(filepath.Join("../..", dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range tag.FindAllSubmatch(src, -1) {
				if len(m[1]) > 0 {
					names[string(m[1])] = true
				}
				if len(m[2]) > 0 {
					prefixes[string(m[2])] = true
				}
			}
			for _, m := range lit.FindAllSubmatch(src, -1) {
				literals[string(m[1])] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return names, prefixes, literals
}

// retiredEnv chose what a process is; a binary is one process now, so the
// chart must never set them (even while some code still reads them).
var retiredEnv = []string{"PRINTFLEET_CATALOG_ROLES", "PRINTFLEET_PRICING_COUPONS"}

// pendingEnv are variables of shared contracts that the chart sets before
// the code reading them has landed. Once they are read, remove them.
var pendingEnv = []string{}

// TestEnvironmentIsRead checks every PRINTFLEET_ variable the chart sets is
// one the code reads, so a misspelled or renamed variable cannot silently
// leave a process on its local default.
func TestEnvironmentIsRead(t *testing.T) {
	t.Parallel()
	names, prefixes, literals := codeEnv(t)
	known := func(v string) bool {
		if slices.Contains(retiredEnv, v) {
			return false
		}
		if literals[v] || slices.Contains(pendingEnv, v) {
			return true
		}
		rest, ok := strings.CutPrefix(v, "PRINTFLEET_")
		if !ok {
			return true // not ours (GOMEMLIMIT, OTEL_*)
		}
		if names[rest] {
			return true
		}
		for p1 := range prefixes {
			r1, ok := strings.CutPrefix(rest, p1)
			if !ok {
				continue
			}
			if names[r1] {
				return true
			}
			for p2 := range prefixes {
				if r2, ok := strings.CutPrefix(r1, p2); ok && names[r2] {
					return true
				}
			}
		}
		return false
	}
	for name, r := range renderAll(t) {
		for _, cm := range r.configMaps {
			for k := range cm.Data {
				if strings.HasPrefix(k, "PRINTFLEET_") && !known(k) {
					t.Errorf("%s: ConfigMap %s sets %s, which no code reads", name, cm.Name, k)
				}
			}
		}
		for _, w := range r.workloads() {
			for _, c := range w.spec.Containers {
				for _, e := range c.Env {
					if !known(e.Name) {
						t.Errorf("%s: %s sets %s, which no code reads", name, w.what, e.Name)
					}
				}
			}
		}
	}
}

// TestValuesTyposFail: values.schema.json closes every values object, so a
// misspelled key fails the render instead of being ignored.
func TestValuesTyposFail(t *testing.T) {
	t.Parallel()
	for name, v := range map[string]map[string]any{
		"component field":  {"components": map[string]any{"orders": map[string]any{"replcas": 3}}},
		"top-level key":    {"ingres": map[string]any{"enabled": true}},
		"secretEnv field":  {"components": map[string]any{"orders": map[string]any{"secretEnv": []any{map[string]any{"name": "X", "secret": "shared", "kye": "x"}}}}},
		"shutdown grace":   {"config": map[string]any{"shutdownGrace": "1m"}},
		"component kind":   {"components": map[string]any{"orders": map[string]any{"kind": "rpc"}}},
		"unknown secret":   {"components": map[string]any{"orders": map[string]any{"secretEnv": []any{map[string]any{"name": "X", "secret": "nope", "key": "x"}}}}},
		"monitoring field": {"monitoring": map[string]any{"serviceMonitor": map[string]any{"enable": true}}},
		// Gone: no binary has a migrate subcommand.
		"migration hook": {"migrations": map[string]any{"enabled": true}},
		"binary path":    {"components": map[string]any{"orders": map[string]any{"binary": "../bin/sh"}}},
		// A binary is one process: no subcommands or flags choose what it is.
		"component args": {"components": map[string]any{"catalog": map[string]any{"args": []any{"rebuild-projections"}}}},
	} {
		if _, err := render.Chart(render.Options{ChartDir: chartDir, Values: v}); err == nil {
			t.Errorf("%s: rendering %v succeeded", name, v)
		}
	}
}

// TestConsoleSeesTheImagesAndTraces: the console's CSP allows images from
// the origin presigned links use (the public S3 endpoint, else the
// endpoint), and its trace link comes from config.traceURL.
func TestConsoleSeesTheImagesAndTraces(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		s3     map[string]any
		trace  string
		origin string
	}{
		{map[string]any{"endpoint": "https://s3.eu-west-1.amazonaws.com"}, "", "https://s3.eu-west-1.amazonaws.com"},
		{map[string]any{"endpoint": "http://minio.storage.svc:9000", "publicEndpoint": "https://files.example.com:8443/s3"},
			"https://tempo.example.com/trace/{trace_id}", "https://files.example.com:8443"},
	} {
		docs, err := render.Chart(render.Options{ChartDir: chartDir,
			Values: map[string]any{"config": map[string]any{"s3": tt.s3, "traceURL": tt.trace}}})
		if err != nil {
			t.Fatal(err)
		}
		r, err := decodeAll(docs)
		if err != nil {
			t.Fatal(err)
		}
		var data map[string]string
		for _, cm := range r.configMaps {
			if _, ok := cm.Data["PRINTFLEET_S3_ENDPOINT"]; ok {
				data = cm.Data
			}
		}
		if got := data["PRINTFLEET_GATEWAY_CONSOLE_IMAGE_ORIGINS"]; got != tt.origin {
			t.Errorf("s3 %v: image origins %q, want %q", tt.s3, got, tt.origin)
		}
		if got := data["PRINTFLEET_GATEWAY_CONSOLE_TRACE_URL"]; got != tt.trace {
			t.Errorf("traceURL %q: the console's is %q", tt.trace, got)
		}
	}
}
