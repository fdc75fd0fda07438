{{/*
The agent's allowlist as a JSON list: agent.daemonset.allowlist, the cluster's
pod and service CIDRs from clusterAllowlist, and, with clusterAllowlist.discover,
what Helm's lookup finds at install/upgrade time (nothing under helm template):
every node's pod CIDRs and addresses, the API server's addresses (the
default/kubernetes Endpoints) and Service IP, and the ServiceCIDRs
(networking.k8s.io/v1, Kubernetes 1.33+). The agent also never bans its own
node's addresses, gateway and resolvers, found at run time.
*/}}
{{- define "floodgate.agentAllowlist" -}}
{{- $a := .Values.agent.daemonset -}}
{{- $c := $a.clusterAllowlist -}}
{{- $list := concat $a.allowlist $c.podCIDRs $c.serviceCIDRs -}}
{{- if $c.discover -}}
{{- range (lookup "v1" "Node" "" "").items -}}
{{- $list = concat $list (.spec.podCIDRs | default list) -}}
{{- with .spec.podCIDR }}{{ $list = append $list . }}{{ end -}}
{{- range .status.addresses -}}
{{- if or (eq .type "InternalIP") (eq .type "ExternalIP") }}{{ $list = append $list .address }}{{ end -}}
{{- end -}}
{{- end -}}
{{- $ep := lookup "v1" "Endpoints" "default" "kubernetes" -}}
{{- range ($ep.subsets | default list) -}}
{{- range (.addresses | default list) }}{{ $list = append $list .ip }}{{ end -}}
{{- end -}}
{{- with (lookup "v1" "Service" "default" "kubernetes").spec -}}
{{- range (.clusterIPs | default (list .clusterIP)) }}{{ if . }}{{ $list = append $list . }}{{ end }}{{ end -}}
{{- end -}}
{{- if .Capabilities.APIVersions.Has "networking.k8s.io/v1/ServiceCIDR" -}}
{{- range (lookup "networking.k8s.io/v1" "ServiceCIDR" "" "").items -}}
{{- $list = concat $list (.spec.cidrs | default list) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $list | uniq | toJson -}}
{{- end -}}

{{/*
The Host names the dashboard answers besides loopback names and IP addresses
(--dashboard-allowed-hosts): its Service's DNS names and dashboard.allowedHosts.
Any other name is refused, so a DNS-rebinding page gets nothing.
*/}}
{{- define "floodgate.dashboardHosts" -}}
{{- $svc := include "floodgate.controllerName" . -}}
{{- $ns := .Release.Namespace -}}
{{- $names := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) -}}
{{- concat $names .Values.dashboard.allowedHosts | uniq | join "," -}}
{{- end -}}
