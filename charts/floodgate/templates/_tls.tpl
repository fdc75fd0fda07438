{{/*
Agent TLS (docs/tls.md): one agent CA; a serving certificate for the agent
DaemonSet (one fixed name, checked by the controller, which dials agents by
pod IP), one for the host agent beside kind/k3d, the controller's client
certificate (mutual TLS: agents answer only it), and, when the DaemonSet's
agents watch, the controller's node identity broker's serving certificate
(the agents verify it before they send their pod token; docs/node-identity.md). Made by cert-manager when
its API is there (agent.tls.provider auto or cert-manager), else by Helm
itself (genCA/genSignedCert), kept across upgrades with lookup.
*/}}

{{/* "cert-manager", "helm", or "" when agent TLS is off. */}}
{{- define "floodgate.agentTlsProvider" -}}
{{- $t := .Values.agent.tls }}
{{- if $t.enabled }}
{{- if eq $t.provider "auto" }}
{{- if .Capabilities.APIVersions.Has "cert-manager.io/v1" }}cert-manager{{ else }}helm{{ end }}
{{- else if and (eq $t.provider "cert-manager") (not (.Capabilities.APIVersions.Has "cert-manager.io/v1")) }}
{{- fail "agent.tls.provider=cert-manager, but the cluster has no cert-manager.io/v1 API: install cert-manager, or use agent.tls.provider=auto or helm" }}
{{- else }}
{{- $t.provider }}
{{- end }}
{{- end }}
{{- end }}

{{/* The name every DaemonSet agent's certificate carries; the controller checks it (--agent-server-name). */}}
{{- define "floodgate.agentServerName" -}}
{{- default (printf "%s.%s.svc" (include "floodgate.agentName" .) .Release.Namespace) .Values.agent.tls.serverName }}
{{- end }}

{{/* The subject CN of the controller's client certificate; agents accept no other (tls.clientNames). */}}
{{- define "floodgate.agentClientName" -}}
{{- include "floodgate.controllerName" . }}
{{- end }}

{{- define "floodgate.agentCaSecret" -}}
{{- printf "%s-agent-ca" (include "floodgate.fullname" .) }}
{{- end }}
{{- define "floodgate.agentTlsSecret" -}}
{{- printf "%s-agent-tls" (include "floodgate.fullname" .) }}
{{- end }}
{{- define "floodgate.agentClientSecret" -}}
{{- printf "%s-agent-client" (include "floodgate.fullname" .) }}
{{- end }}
{{/* The node identity broker's certificate (agent CA): the controller serves HTTPS with it to the DaemonSet's agents. */}}
{{- define "floodgate.nodeIdentityTlsSecret" -}}
{{- printf "%s-node-identity-tls" (include "floodgate.fullname" .) }}
{{- end }}
{{/* The name the agents dial the broker by, and its certificate carries: the controller's Service. */}}
{{- define "floodgate.nodeIdentityServerName" -}}
{{- printf "%s.%s.svc" (include "floodgate.controllerName" .) .Release.Namespace }}
{{- end }}
{{/* Its CN: not the controller's client name, so agents refuse it as a client certificate (Helm's certificates allow both uses). */}}
{{- define "floodgate.nodeIdentityCommonName" -}}
{{- printf "%s-node-identity" (include "floodgate.controllerName" .) }}
{{- end }}
{{/* The broker's URL the agents get: https:// with agent TLS on (verified against the agent CA), http:// only with it off. */}}
{{- define "floodgate.nodeIdentityUrl" -}}
{{- printf "%s://%s:%v" (ternary "https" "http" .Values.agent.tls.enabled) (include "floodgate.nodeIdentityServerName" .) .Values.controller.nodeIdentityPort }}
{{- end }}
{{- define "floodgate.hostAgentTlsSecret" -}}
{{- printf "%s-host-agent-tls" (include "floodgate.fullname" .) }}
{{- end }}

{{/* The host agent's URL: agent.host.url, else host.docker.internal:12345 over https (TLS on) or http. */}}
{{- define "floodgate.hostAgentUrl" -}}
{{- if .Values.agent.host.url }}
{{- .Values.agent.host.url | trimSuffix "/" }}
{{- else }}
{{- printf "%s://host.docker.internal:12345" (ternary "https" "http" .Values.agent.tls.enabled) }}
{{- end }}
{{- end }}

{{/* The host agent's certificate names: its URL's host, agent.tls.hostNames, and loopback for the CLI on that host. */}}
{{- define "floodgate.hostAgentNames" -}}
{{- $host := (urlParse (include "floodgate.hostAgentUrl" .)).hostname }}
{{- $dns := list "localhost" }}
{{- $ips := list "127.0.0.1" "::1" }}
{{- range (prepend .Values.agent.tls.hostNames $host) }}
{{- if regexMatch "^[0-9.]+$|:" . }}{{ $ips = append $ips (trimAll "[]" .) }}{{ else }}{{ $dns = append $dns . }}{{ end }}
{{- end }}
{{- dict "dns" (uniq $dns) "ips" (uniq $ips) | toJson }}
{{- end }}

{{/*
A kubernetes.io/tls Secret signed by the Helm-made CA, kept across upgrades
(lookup) while it was signed by this CA, for these names, and has more than
30 days left; else made anew.
Usage: include "floodgate.helmTlsSecret" (dict "ctx" . "name" N "cn" CN "dns" LIST "ips" LIST "ca" CA "component" C)
*/}}
{{- define "floodgate.helmTlsSecret" -}}
{{- $ctx := .ctx }}
{{- $days := int $ctx.Values.agent.tls.certificateDays }}
{{- $names := printf "%s|%s|%s" .cn (join "," .dns) (join "," .ips) | sha256sum | trunc 16 }}
{{- $caCrt := .ca.Cert | b64enc }}
{{- $now := now | unixEpoch | int64 }}
{{- $existing := lookup "v1" "Secret" $ctx.Release.Namespace .name }}
{{- $data := dict }}
{{- $notAfter := add $now (mul $days 86400) }}
{{- if and $existing $existing.data $existing.metadata.annotations }}
{{- $a := $existing.metadata.annotations }}
{{- $left := sub (int64 (index $a "floodgate.dev/tls-not-after" | default "0")) $now }}
{{- if and (eq (index $existing.data "ca.crt" | default "") $caCrt) (eq (index $a "floodgate.dev/tls-names" | default "") $names) (gt $left (mul 30 86400)) }}
{{- $data = $existing.data }}
{{- $notAfter = int64 (index $a "floodgate.dev/tls-not-after") }}
{{- end }}
{{- end }}
{{- if not $data }}
{{- $cert := genSignedCert .cn .ips .dns $days .ca }}
{{- $data = dict "tls.crt" ($cert.Cert | b64enc) "tls.key" ($cert.Key | b64enc) "ca.crt" $caCrt }}
{{- end }}
apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata:
  name: {{ .name }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "floodgate.componentLabels" (list $ctx .component) | nindent 4 }}
  annotations:
    # Made by Helm (agent.tls.provider=helm); made anew by a helm upgrade when
    # the CA or the names change, or less than 30 days are left.
    floodgate.dev/tls-names: {{ $names | quote }}
    floodgate.dev/tls-not-after: {{ $notAfter | quote }}
data:
  tls.crt: {{ index $data "tls.crt" }}
  tls.key: {{ index $data "tls.key" }}
  ca.crt: {{ index $data "ca.crt" }}
{{- end }}

{{/*
A cert-manager Certificate from the agent CA Issuer.
Usage: include "floodgate.certManagerCertificate" (dict "ctx" . "name" N "cn" CN "dns" LIST "ips" LIST "usages" LIST "component" C)
*/}}
{{- define "floodgate.certManagerCertificate" -}}
{{- $ctx := .ctx }}
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: {{ .name }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "floodgate.componentLabels" (list $ctx .component) | nindent 4 }}
spec:
  secretName: {{ .name }}
  commonName: {{ .cn | quote }}
  {{- with .dns }}
  dnsNames: {{ toJson . }}
  {{- end }}
  {{- with .ips }}
  ipAddresses: {{ toJson . }}
  {{- end }}
  usages: {{ toJson .usages }}
  duration: {{ printf "%dh" (mul (int $ctx.Values.agent.tls.certificateDays) 24) }}
  renewBefore: {{ printf "%dh" (mul (max 1 (div (int $ctx.Values.agent.tls.certificateDays) 3)) 24) }}
  privateKey:
    algorithm: ECDSA
    size: 256
    rotationPolicy: Always
  issuerRef:
    kind: Issuer
    name: {{ include "floodgate.agentCaSecret" $ctx }}
{{- end }}
