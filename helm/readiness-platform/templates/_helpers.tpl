{{/* Names, labels, the image, and the environment every app pod shares. */}}

{{- define "readiness.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "readiness.fullname" -}}
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

{{/* labels that select a component's pods: include "readiness.selectorLabels" (list . "api") */}}
{{- define "readiness.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ include "readiness.name" $ }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "readiness.labels" -}}
{{- $ := index . 0 -}}
helm.sh/chart: {{ printf "%s-%s" $.Chart.Name $.Chart.Version | replace "+" "_" }}
{{ include "readiness.selectorLabels" . }}
app.kubernetes.io/part-of: readiness-platform
app.kubernetes.io/version: {{ $.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $.Release.Service }}
{{- end -}}

{{/* the one image: <registry>/<repository>:<tag>, registry and tag from DOCKER_REGISTRY and IMAGE_TAG */}}
{{- define "readiness.image" -}}
{{- $tag := required "image.tag is required: --set image.tag=$IMAGE_TAG" .Values.image.tag -}}
{{- if .Values.image.registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .Values.image.registry) .Values.image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "readiness.envConfigMap" -}}{{ include "readiness.fullname" . }}-env{{- end -}}
{{- define "readiness.dagsterInstance" -}}{{ include "readiness.fullname" . }}-dagster-instance{{- end -}}
{{- define "readiness.dagsterWorkspace" -}}{{ include "readiness.fullname" . }}-dagster-workspace{{- end -}}
{{- define "readiness.sharedClaim" -}}{{ default (printf "%s-shared" (include "readiness.fullname" .)) .Values.storage.shared.existingClaim }}{{- end -}}
{{- define "readiness.codeServer" -}}{{ include "readiness.fullname" . }}-dagster-code{{- end -}}
{{- define "readiness.mlflow" -}}{{ include "readiness.fullname" . }}-mlflow{{- end -}}

{{- define "readiness.dagsterHome" -}}/opt/dagster/dagster_home{{- end -}}
{{- define "readiness.sparkConfDir" -}}/opt/readiness/spark-conf{{- end -}}

{{/* secret environment: each variable from a key of the existing Secret, never a value */}}
{{- define "readiness.secretEnv" -}}
{{- $secret := required "secrets.existingSecret is required" .Values.secrets.existingSecret -}}
{{- range $name, $key := .Values.secrets.env }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
{{- end }}
{{- end -}}

{{- define "readiness.envFrom" -}}
- configMapRef:
    name: {{ include "readiness.envConfigMap" . }}
{{- with .Values.storage.s3.credentialsSecret }}
- secretRef:
    name: {{ . }}
{{- end }}
{{- end -}}

{{/* the shared READINESS_HOME volume and the spark-defaults.conf of local-mode Spark sessions */}}
{{- define "readiness.volumes" -}}
- name: shared
  persistentVolumeClaim:
    claimName: {{ include "readiness.sharedClaim" . }}
- name: spark-conf
  configMap:
    name: {{ include "readiness.fullname" . }}-spark-conf
- name: tmp
  emptyDir: {}
{{- end -}}

{{- define "readiness.volumeMounts" -}}
- name: shared
  mountPath: {{ .Values.storage.shared.mountPath }}
- name: spark-conf
  mountPath: {{ include "readiness.sparkConfDir" . }}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* Spark's object-storage settings: the stream's sparkConf and spark-defaults.conf of Dagster's runs */}}
{{- define "readiness.sparkS3Conf" -}}
spark.hadoop.fs.s3a.impl: org.apache.hadoop.fs.s3a.S3AFileSystem
spark.hadoop.fs.s3a.endpoint.region: {{ .Values.storage.s3.region | quote }}
spark.hadoop.fs.s3a.path.style.access: {{ .Values.storage.s3.pathStyleAccess | toString | quote }}
{{- with .Values.storage.s3.endpoint }}
spark.hadoop.fs.s3a.endpoint: {{ . | quote }}
{{- end }}
{{- end -}}

{{- define "readiness.podSecurity" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
