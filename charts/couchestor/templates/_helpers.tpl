{{/* The chart's name, or nameOverride. */}}
{{- define "couchestor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The prefix of every object's name: fullnameOverride, else the release name (when it contains the
chart's name), else <release>-<chart>. A release named couchestor gives the names the kustomize
config (config/default, namePrefix couchestor-) gives.
*/}}
{{- define "couchestor.fullname" -}}
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

{{- define "couchestor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "couchestor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "couchestor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "couchestor.labels" -}}
helm.sh/chart: {{ include "couchestor.chart" . }}
{{ include "couchestor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "couchestor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (printf "%s-controller-manager" (include "couchestor.fullname" .)) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The image: image.repository, with global.imageRegistry (an umbrella chart's mirror) in place of
the repository's own registry when set ("ghcr.io/billyronks/couchestor" becomes
"<imageRegistry>/billyronks/couchestor"; a first path element is a registry when it has a "."
or a ":" or is localhost, as for docker pull), then @digest or :tag.
*/}}
{{- define "couchestor.image" -}}
{{- $repo := .Values.image.repository -}}
{{- with (.Values.global | default dict).imageRegistry -}}
{{- $parts := splitList "/" $repo -}}
{{- if and (gt (len $parts) 1) (regexMatch "[.:]|^localhost$" (first $parts)) -}}
{{- $repo = join "/" (rest $parts) -}}
{{- end -}}
{{- $repo = printf "%s/%s" (trimSuffix "/" .) $repo -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
imagePullSecrets: global.imagePullSecrets (names, or {name: ...}) then imagePullSecrets, each name
once, as a YAML list; empty when there are none.
*/}}
{{- define "couchestor.imagePullSecrets" -}}
{{- $names := list -}}
{{- range concat ((.Values.global | default dict).imagePullSecrets | default list) (.Values.imagePullSecrets | default list) -}}
{{- $name := . -}}
{{- if kindIs "map" . -}}{{- $name = .name -}}{{- end -}}
{{- if and $name (not (has $name $names)) -}}{{- $names = append $names $name -}}{{- end -}}
{{- end -}}
{{- range $names }}
- name: {{ . }}
{{- end -}}
{{- end -}}

{{/* The ServiceMonitor's namespace. */}}
{{- define "couchestor.serviceMonitorNamespace" -}}
{{- default .Release.Namespace .Values.serviceMonitor.namespace -}}
{{- end -}}

{{/* The namespace of Prometheus' ServiceAccount: its own value, else the ServiceMonitor's. */}}
{{- define "couchestor.prometheusServiceAccountNamespace" -}}
{{- default (include "couchestor.serviceMonitorNamespace" .) .Values.serviceMonitor.prometheusServiceAccount.namespace -}}
{{- end -}}

{{/*
The Secret (name and key) whose token the ServiceMonitor sends: serviceMonitor.bearerTokenSecret
when it names one, else the token Secret this chart creates for Prometheus' ServiceAccount.
*/}}
{{- define "couchestor.bearerTokenSecretName" -}}
{{- default (printf "%s-prometheus-token" (include "couchestor.fullname" .)) .Values.serviceMonitor.bearerTokenSecret.name -}}
{{- end -}}

{{/* The port of a host:port bind address (":8080" gives 8080). */}}
{{- define "couchestor.port" -}}
{{- regexReplaceAll "^.*:" . "" -}}
{{- end -}}

{{- define "couchestor.metricsEnabled" -}}
{{- if ne (toString .Values.config.metricsBindAddress) "0" -}}true{{- end -}}
{{- end -}}

{{/* Whether /metrics is served over HTTPS with authentication (--metrics-secure, when the operator has it). */}}
{{- define "couchestor.metricsSecure" -}}
{{- if and (hasKey .Values.config "metricsSecure") (eq (toString .Values.config.metricsSecure) "true") -}}true{{- end -}}
{{- end -}}

{{/*
The operator's arguments: each key of .Values.config as --<kebab-case key>=<value>, in key order,
empty strings left out; then extraArgs.
*/}}
{{- define "couchestor.args" -}}
{{- range $key, $value := .Values.config }}
{{- if not (and (kindIs "string" $value) (eq $value "")) }}
{{- $flag := kebabcase $key }}
{{- if or (kindIs "float64" $value) (kindIs "int" $value) (kindIs "int64" $value) }}
- {{ printf "--%s=%d" $flag (int64 $value) | toJson }}
{{- else }}
- {{ printf "--%s=%v" $flag $value | toJson }}
{{- end }}
{{- end }}
{{- end }}
{{- range .Values.extraArgs }}
- {{ . | toJson }}
{{- end }}
{{- end -}}

{{/*
GOMEMLIMIT from resources.limits.memory when goMemLimit is empty: 90 % of a limit written in
whole Mi or Gi (the collector works harder as the Go heap nears it, leaving room for what the Go
runtime does not count); empty for a limit written otherwise, which the Deployment then passes
whole through the downward API.
*/}}
{{- define "couchestor.goMemLimit" -}}
{{- $limit := toString (dig "limits" "memory" "" (.Values.resources | default dict)) -}}
{{- if regexMatch "^[0-9]+Mi$" $limit -}}
{{- printf "%dMiB" (div (mul (atoi (trimSuffix "Mi" $limit)) 9) 10) -}}
{{- else if regexMatch "^[0-9]+Gi$" $limit -}}
{{- printf "%dMiB" (div (mul (atoi (trimSuffix "Gi" $limit)) 9216) 10) -}}
{{- end -}}
{{- end -}}
