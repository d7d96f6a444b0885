{{/*
A one-shot Job running a component's binary with args, as a Helm hook:
dict "root" $ "name" <component> "job" <suffix> "args" <list> "hook" <hook events>
     "weight" <int> "resources" <map> "env" <"pg" | "all">
*/}}
{{- define "printfleet.job" -}}
{{- $r := .root -}}
{{- $env := .env -}}
{{- $c := include "printfleet.component" (dict "root" $r "name" .name) | fromYaml -}}
{{- $ctx := dict "root" $r "name" .name -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "printfleet.componentName" $ctx }}-{{ .job }}
  namespace: {{ $r.Release.Namespace }}
  labels:
    {{- include "printfleet.labels" $r | nindent 4 }}
    app.kubernetes.io/component: {{ .job }}
  annotations:
    helm.sh/hook: {{ .hook }}
    helm.sh/hook-weight: {{ .weight | quote }}
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  backoffLimit: {{ index . "backoffLimit" | default 2 }}
  activeDeadlineSeconds: {{ index . "deadline" | default 600 }}
  ttlSecondsAfterFinished: 3600
  template:
    metadata:
      labels:
        {{- include "printfleet.releaseSelector" $r | nindent 8 }}
        app.kubernetes.io/component: {{ .job }}
    spec:
      restartPolicy: Never
      serviceAccountName: {{ include "printfleet.serviceAccountName" $r }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      {{- include "printfleet.podSecurity" $r | nindent 6 }}
      {{- with $r.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .job }}
          image: {{ include "printfleet.image" (dict "root" $r "c" $c) }}
          imagePullPolicy: {{ $r.Values.image.pullPolicy }}
          args:
            {{- toYaml .args | nindent 12 }}
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
            {{- include "printfleet.secretEnvVar" (dict "root" $r "e" $e) | nindent 12 }}
            {{- end }}
            {{- end }}
          resources:
            {{- toYaml .resources | nindent 12 }}
          {{- include "printfleet.containerSecurity" $r | nindent 10 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
{{- end -}}
