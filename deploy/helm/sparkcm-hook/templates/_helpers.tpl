{{/* Chart name, at most 63 characters. */}}
{{- define "sparkcm-hook.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Release-qualified name. 52 characters at most, because a CronJob name must leave room for the
11 characters the controller appends to its Jobs.
*/}}
{{- define "sparkcm-hook.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "sparkcm-hook.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sparkcm-hook.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sparkcm-hook.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sparkcm-hook.labels" -}}
helm.sh/chart: {{ include "sparkcm-hook.chart" . }}
{{ include "sparkcm-hook.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "sparkcm-hook.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sparkcm-hook.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Cluster-scoped objects are shared by every release: qualify them with the namespace. */}}
{{- define "sparkcm-hook.clusterRoleName" -}}
{{- printf "%s-%s" .Release.Namespace (include "sparkcm-hook.fullname" .) }}
{{- end }}

{{/*
The API access sweep and cleanup need, and no more; the README says why for each verb. The
controller needs the same (it watches Pods and SparkApplications, caches no maps). Rendered into the
Role, or into the ClusterRole with clusterWide.enabled; deploy/helm/permissions_test.go holds it to
hook.Permissions.
*/}}
{{- define "sparkcm-hook.rules" -}}
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "patch", "delete"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["sparkoperator.k8s.io"]
  resources: ["sparkapplications"]
  verbs: ["get", "list", "watch"]
{{- if or .Values.apacheOperator.enabled (.Capabilities.APIVersions.Has "spark.apache.org/v1") (.Capabilities.APIVersions.Has "spark.apache.org/v1beta1") }}
- apiGroups: ["spark.apache.org"]
  resources: ["sparkapplications"]
  verbs: ["get", "list", "watch"]
{{- end }}
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end }}

{{/*
A CronJob name for one namespace of clusterWide.namespaces: "<fullname>-<namespace>", shortened
with a hash of the namespace when it would pass 52 characters, so two long names never collide.
Call with (list $ $namespace).
*/}}
{{- define "sparkcm-hook.cronJobName" -}}
{{- $root := index . 0 }}
{{- $ns := index . 1 }}
{{- $name := printf "%s-%s" (include "sparkcm-hook.fullname" $root) $ns }}
{{- if gt (len $name) 52 }}
{{- $name = printf "%s-%s" ($name | trunc 43 | trimSuffix "-") ($ns | sha256sum | trunc 8) }}
{{- end }}
{{- $name }}
{{- end }}

{{/*
The image: pinned by digest when image.digest is set (the tag is then only for people), else by tag,
which defaults to the chart's appVersion: the version make dist stamps on the binary and the image.
*/}}
{{- define "sparkcm-hook.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
The sweeps, as JSON for fromJson: the release namespace by default; with clusterWide.enabled one over
all namespaces or one per listed namespace. The CronJobs and the helm test each render one per sweep.
*/}}
{{- define "sparkcm-hook.sweeps" -}}
{{- $sweeps := list }}
{{- if not .Values.clusterWide.enabled }}
{{- $sweeps = append $sweeps (dict "name" (include "sparkcm-hook.fullname" .) "namespace" "" "all" false) }}
{{- else if .Values.clusterWide.namespaces }}
{{- range $ns := .Values.clusterWide.namespaces }}
{{- $sweeps = append $sweeps (dict "name" (include "sparkcm-hook.cronJobName" (list $ $ns)) "namespace" $ns "all" false) }}
{{- end }}
{{- else }}
{{- $sweeps = append $sweeps (dict "name" (include "sparkcm-hook.fullname" .) "namespace" "" "all" true "exclude" (join "," (.Values.clusterWide.excludeNamespaces | default list))) }}
{{- end }}
{{- dict "sweeps" $sweeps | toJson }}
{{- end }}

{{/* Where a sweep (or its preflight) looks: the environment, as the CronJob's container gets it. */}}
{{- define "sparkcm-hook.scopeEnv" -}}
{{- if .all }}
- name: SPARKCM_ALL_NAMESPACES
  value: "true"
{{- with .exclude }}
- name: SPARKCM_EXCLUDE_NAMESPACES
  value: {{ . | quote }}
{{- end }}
{{- else if .namespace }}
- name: SPARKCM_NAMESPACE
  value: {{ .namespace | quote }}
{{- else }}
- name: SPARKCM_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end }}
{{- end }}

{{/*
The controller's leader election: its Lease, in the release namespace only (a Role there, whatever
clusterWide says). No delete: a leader that stops releases the Lease by updating it.
*/}}
{{- define "sparkcm-hook.leaseRules" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "create", "update"]
{{- end }}

{{- define "sparkcm-hook.leaseName" -}}
{{- .Values.controller.leaseName | default (include "sparkcm-hook.fullname" .) }}
{{- end }}

{{/*
Where the controller watches, as the environment of its container: the release namespace, the
listed namespaces (the controller takes several), or every namespace.
*/}}
{{- define "sparkcm-hook.controllerScopeEnv" -}}
{{- if not .Values.clusterWide.enabled }}
- name: SPARKCM_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- else if .Values.clusterWide.namespaces }}
- name: SPARKCM_NAMESPACE
  value: {{ join "," .Values.clusterWide.namespaces | quote }}
{{- else }}
- name: SPARKCM_ALL_NAMESPACES
  value: "true"
{{- end }}
{{- end }}
