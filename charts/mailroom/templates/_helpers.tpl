{{/* The labels deploy/ puts on every object, plus Helm's own. */}}
{{- define "mailroom.labels" -}}
app.kubernetes.io/part-of: mailroom
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* The controller pods' selector labels (fixed: the webhook and Services select on them). */}}
{{- define "mailroom.selector" -}}
app.kubernetes.io/name: mailroom
app.kubernetes.io/component: controller
{{- end }}

{{/*
The sidecar-injection webhook: served by the controller in the cluster-wide install; the namespaced
install (watchNamespaces), like deploy/overlays/namespaced, has none (it would need cluster-wide
grants). Non-empty means on.
*/}}
{{- define "mailroom.webhook" -}}
{{- if not .Values.watchNamespaces }}on{{ end }}
{{- end }}

{{/* The image reference. */}}
{{- define "mailroom.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}
