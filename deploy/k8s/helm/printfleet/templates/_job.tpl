{{/*
One-shot binaries: a Job's spec running one binary of a component's image
with that component's Secrets. dict "root" $ "name" <component> "binary" <binary>
  "resources" <map> "env" <"pg" | "all"> [ "backoffLimit" <int> "deadline" <int> ]
("pg": only the PRINTFLEET_PG_* Secrets; "all": the common ConfigMap and every
Secret of the component).
*/}}
{{- define "printfleet.jobSpec" -}}
{{- $r := .root -}}
{{- $env := .env -}}
{{- $c := include "printfleet.component" (dict "root" $r "name" .name) | fromYaml -}}
backoffLimit: {{ index . "backoffLimit" | default 2 }}
activeDeadlineSeconds: {{ index . "deadline" | default 600 }}
ttlSecondsAfterFinished: 3600
template:
  metadata:
    labels:
      {{- include "printfleet.releaseSelector" $r | nindent 6 }}
      app.kubernetes.io/component: {{ .binary }}
  spec:
    restartPolicy: Never
    serviceAccountName: {{ include "printfleet.serviceAccountName" $r }}
    automountServiceAccountToken: false
    enableServiceLinks: false
    {{- include "printfleet.podSecurity" $r | nindent 4 }}
    {{- with $r.Values.imagePullSecrets }}
    imagePullSecrets:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    containers:
      - name: {{ .binary }}
        image: {{ include "printfleet.image" (dict "root" $r "c" $c) }}
        imagePullPolicy: {{ $r.Values.image.pullPolicy }}
        {{- include "printfleet.command" .binary | nindent 8 }}
        {{- if eq .env "all" }}
        envFrom:
          - configMapRef:
              name: {{ include "printfleet.fullname" $r }}-common
        {{- end }}
        env:
          {{- /* Hooks may run before the release's ConfigMaps exist. */}}
          - name: PRINTFLEET_LOG_LEVEL
            value: {{ $r.Values.config.logLevel | quote }}
          - name: PRINTFLEET_ADMIN_ADDR
            value: "127.0.0.1:0"
          {{- range $e := $c.secretEnv }}
          {{- if or (eq $env "all") (hasPrefix "PRINTFLEET_PG_" $e.name) }}
          {{- include "printfleet.secretEnvVar" (dict "root" $r "e" $e) | nindent 10 }}
          {{- end }}
          {{- end }}
        resources:
          {{- toYaml .resources | nindent 10 }}
        {{- include "printfleet.containerSecurity" $r | nindent 8 }}
        volumeMounts:
          - name: tmp
            mountPath: /tmp
    volumes:
      - name: tmp
        emptyDir:
          sizeLimit: 64Mi
{{- end -}}

{{/*
A printfleet.jobSpec as a Helm hook Job named <fullname>-<binary>; adds
"hook" <hook events> "weight" <int> to printfleet.jobSpec's arguments.
*/}}
{{- define "printfleet.hookJob" -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "printfleet.fullname" .root }}-{{ .binary }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "printfleet.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .binary }}
  annotations:
    helm.sh/hook: {{ .hook }}
    helm.sh/hook-weight: {{ .weight | quote }}
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  {{- include "printfleet.jobSpec" . | nindent 2 }}
{{- end -}}
