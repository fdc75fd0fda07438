{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "floodgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name prefix of every resource. If the release name contains the chart
name it is used as is (`helm install floodgate` gives floodgate-controller).
*/}}
{{- define "floodgate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "floodgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "floodgate.labels" -}}
helm.sh/chart: {{ include "floodgate.chart" . }}
app.kubernetes.io/name: {{ include "floodgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: floodgate
{{- end }}

{{/* Selector labels of one component: include "floodgate.selectorLabels" (list . "controller") */}}
{{- define "floodgate.selectorLabels" -}}
{{- $ctx := index . 0 -}}
app.kubernetes.io/name: {{ include "floodgate.name" $ctx }}
app.kubernetes.io/instance: {{ $ctx.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* Labels of one component's objects: include "floodgate.componentLabels" (list . "controller") */}}
{{- define "floodgate.componentLabels" -}}
{{ include "floodgate.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "floodgate.controllerName" -}}
{{- printf "%s-controller" (include "floodgate.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "floodgate.agentName" -}}
{{- printf "%s-agent" (include "floodgate.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "floodgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "floodgate.controllerName" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- /* The agent DaemonSet's own ServiceAccount (it reads BlockEvents and DefensePolicies when agent.sync=watch). */ -}}
{{- define "floodgate.agentServiceAccountName" -}}
{{- include "floodgate.agentName" . }}
{{- end }}

{{- /* True when the DaemonSet's agents watch the API server. */ -}}
{{- define "floodgate.agentsWatch" -}}
{{- if and .Values.agent.daemonset.enabled (eq .Values.agent.sync "watch") }}true{{ end }}
{{- end }}

{{- define "floodgate.agentTokenSecret" -}}
{{- default (printf "%s-agent-token" (include "floodgate.fullname" .)) .Values.agentToken.existingSecret }}
{{- end }}

{{- define "floodgate.dashboardTokenSecret" -}}
{{- default (printf "%s-dashboard-token" (include "floodgate.fullname" .)) .Values.dashboard.token.existingSecret }}
{{- end }}

{{- define "floodgate.image" -}}
{{- printf "%s:%s" .image.repository (default .chart.AppVersion .image.tag) }}
{{- end }}

{{/*
A token that is generated once and kept across upgrades: the supplied value,
else the one already in the release's Secret (lookup; empty under
`helm template`), else a new random one.
Usage: include "floodgate.token" (dict "ctx" . "secret" NAME "value" VALUE)
*/}}
{{- define "floodgate.token" -}}
{{- if .value }}
{{- .value }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .secret }}
{{- if and $existing $existing.data (hasKey $existing.data "token") }}
{{- index $existing.data "token" | b64dec }}
{{- else }}
{{- randAlphaNum 40 }}
{{- end }}
{{- end }}
{{- end }}

{{/* Secret for a token: include "floodgate.tokenSecret" (dict "ctx" . "name" NAME "value" VALUE "component" C "keep" BOOL) */}}
{{- define "floodgate.tokenSecret" -}}
apiVersion: v1
kind: Secret
metadata:
  name: {{ .name }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "floodgate.componentLabels" (list .ctx .component) | nindent 4 }}
    {{- if eq .component "agent" }}
    # The controller uses a Secret as an agent token only with this label.
    floodgate.dev/agent-token: "true"
    {{- end }}
  {{- if .keep }}
  annotations:
    # Kept on uninstall: agents outside the cluster hold the same token.
    helm.sh/resource-policy: keep
  {{- end }}
type: Opaque
data:
  token: {{ include "floodgate.token" (dict "ctx" .ctx "secret" .name "value" .value) | b64enc | quote }}
{{- end }}
