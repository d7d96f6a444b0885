{{/*
Naming, labels and the pieces every workload shares.
*/}}

{{- define "printfleet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "printfleet.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "printfleet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object of the release. */}}
{{- define "printfleet.labels" -}}
helm.sh/chart: {{ include "printfleet.chart" . }}
app.kubernetes.io/name: {{ include "printfleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: printfleet
{{- end -}}

{{/* Selects every pod of the release. */}}
{{- define "printfleet.releaseSelector" -}}
app.kubernetes.io/name: {{ include "printfleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Selects one component's pods: dict "root" $ "name" "orders". */}}
{{- define "printfleet.selectorLabels" -}}
{{ include "printfleet.releaseSelector" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "printfleet.componentLabels" -}}
{{ include "printfleet.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* <fullname>-<component> */}}
{{- define "printfleet.componentName" -}}
{{- printf "%s-%s" (include "printfleet.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "printfleet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "printfleet.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The effective settings of a component: componentDefaults overlaid with the
component's own values. Returns YAML; use with fromYaml.
*/}}
{{- define "printfleet.component" -}}
{{- $c := mergeOverwrite (deepCopy .root.Values.componentDefaults) (deepCopy (index .root.Values.components .name)) -}}
{{- toYaml $c -}}
{{- end -}}

{{/* The enabled components, sorted, as a YAML list of names. */}}
{{- define "printfleet.enabledComponents" -}}
{{- $out := list -}}
{{- range $name := keys .Values.components | sortAlpha -}}
{{- $c := include "printfleet.component" (dict "root" $ "name" $name) | fromYaml -}}
{{- if $c.enabled -}}{{- $out = append $out $name -}}{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* The container's command: the binary, one of its image's, by absolute
path (the images have no entrypoint). */}}
{{- define "printfleet.command" -}}
command:
  - /usr/local/bin/{{ . }}
{{- end -}}

{{- define "printfleet.image" -}}
{{- $tag := .c.image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- printf "%s/%s:%s" .root.Values.image.registry .c.image.repository $tag -}}
{{- end -}}

{{/* The in-cluster address of a component's gRPC port, for clients
(dns:/// resolution over the headless Service: client-side balancing). */}}
{{- define "printfleet.grpcTarget" -}}
{{- $c := include "printfleet.component" . | fromYaml -}}
{{- printf "%s-headless.%s.svc:%v" (include "printfleet.componentName" .) .root.Release.Namespace (index $c.ports "grpc") -}}
{{- end -}}

{{/* Datastore addresses: the in-cluster development servers when enabled. */}}
{{- define "printfleet.redisAddrs" -}}
{{- if .Values.dev.redis.enabled -}}
{{- printf "%s-redis.%s.svc:6379" (include "printfleet.fullname" .) .Release.Namespace -}}
{{- else -}}
{{- .Values.config.redis.addrs -}}
{{- end -}}
{{- end -}}

{{- define "printfleet.s3Endpoint" -}}
{{- if .Values.dev.s3.enabled -}}
{{- printf "http://%s-s3.%s.svc:7070" (include "printfleet.fullname" .) .Release.Namespace -}}
{{- else -}}
{{- .Values.config.s3.endpoint -}}
{{- end -}}
{{- end -}}

{{/* One secretKeyRef env entry: dict "root" $ "e" <secretEnv item>. */}}
{{- define "printfleet.secretEnvVar" -}}
{{- $secret := index .root.Values.secrets .e.secret | required (printf "secretEnv %s: no secrets.%s" .e.name .e.secret) -}}
- name: {{ .e.name }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ .e.key }}
      {{- if and (hasKey .e "optional") .e.optional }}
      optional: true
      {{- end }}
{{- end -}}

{{/* GOMEMLIMIT at 90% of the memory limit (Mi or Gi), so the Go GC works
before the kernel OOM-kills. */}}
{{- define "printfleet.gomemlimit" -}}
{{- $m := toString . -}}
{{- if hasSuffix "Gi" $m -}}
{{- printf "%dMiB" (div (mul (trimSuffix "Gi" $m | atoi) 1024 9) 10) -}}
{{- else if hasSuffix "Mi" $m -}}
{{- printf "%dMiB" (div (mul (trimSuffix "Mi" $m | atoi) 9) 10) -}}
{{- end -}}
{{- end -}}

{{/* Writable /tmp and the security context every container gets. */}}
{{- define "printfleet.podSecurity" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{- define "printfleet.containerSecurity" -}}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
{{- end -}}
