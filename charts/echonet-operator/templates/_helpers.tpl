{{/* Chart name, truncated to 63 characters (a DNS label). */}}
{{- define "echonet-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: release-chart unless the release name already contains the chart name. */}}
{{- define "echonet-operator.fullname" -}}
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

{{- define "echonet-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object of the release. */}}
{{- define "echonet-operator.labels" -}}
helm.sh/chart: {{ include "echonet-operator.chart" . }}
{{ include "echonet-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: echonet
{{- end }}

{{/* Labels the Deployment selects its pods by (immutable: never add to them). */}}
{{- define "echonet-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "echonet-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "echonet-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "echonet-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:tag, or repository:tag@digest when a digest is set (make images prints it). */}}
{{- define "echonet-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- with .Values.image.digest }}{{ printf "@%s" . }}{{ end }}
{{- end }}

{{- define "echonet-operator.nodeImage" -}}
{{- printf "%s:%s" .Values.nodeImage.repository (default .Chart.AppVersion .Values.nodeImage.tag) }}
{{- with .Values.nodeImage.digest }}{{ printf "@%s" . }}{{ end }}
{{- end }}

{{/* Name of the leader-election Lease. */}}
{{- define "echonet-operator.leaseName" -}}
{{- printf "%s-leader" (include "echonet-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
