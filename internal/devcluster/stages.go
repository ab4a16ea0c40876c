package devcluster

import "strings"

// InvalidRegistrySuffix marks images that fail to pull on the simulated cluster: an image whose
// registry host ends in ".invalid" (a top-level domain reserved never to resolve, RFC 2606),
// e.g. "registry.invalid/app:1".
const InvalidRegistrySuffix = ".invalid"

// invalidImagePattern matches such images; the stage's selector (jq) and its status template
// (Go template) both test it. Written as it appears inside their double-quoted strings.
const invalidImagePattern = `^[^/]+\\.invalid(:[0-9]+)?/`

// stageImagePullFailed is a kwok Stage of ours: a scheduled pod with a container image from a
// ".invalid" registry stays Pending with that container waiting in ErrImagePull (its other
// containers running) and a Warning event, as a kubelet reports a pull that cannot succeed. Its weight makes kwok choose it over
// the default pod-ready stage, which matches the same pods with weight 0. The status it writes
// has no timestamps, so playing it again changes nothing and the pod settles.
var stageImagePullFailed = strings.ReplaceAll(`apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: dynamo-pod-image-pull-failed
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  weight: 1
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Pending'
    - key: '.spec.containers.[] | select(.image | test("PATTERN")) | .name'
      operator: 'Exists'
  next:
    event:
      type: Warning
      reason: Failed
      message: 'Failed to pull image: the registry host ends in .invalid, which never resolves (simulated)'
    statusTemplate: |
      phase: Pending
      conditions:
      - type: Ready
        status: "False"
        reason: ContainersNotReady
      - type: ContainersReady
        status: "False"
        reason: ContainersNotReady
      containerStatuses:
      {{ range .spec.containers }}
      - name: {{ .name | Quote }}
        image: {{ .image | Quote }}
        imageID: ""
        restartCount: 0
        {{ if regexMatch "PATTERN" .image }}
        ready: false
        started: false
        state:
          waiting:
            reason: ErrImagePull
            message: {{ printf "pull %s: registry host ends in .invalid (simulated)" .image | Quote }}
        {{ else }}
        ready: true
        started: true
        state:
          running:
            startedAt: {{ $.metadata.creationTimestamp | Quote }}
        {{ end }}
      {{ end }}
`, "PATTERN", invalidImagePattern)

// AnnotationSimulate on a pod asks the simulated cluster for a failure kwok cannot otherwise
// show: "crash-loop" (every container exits 1 and waits in CrashLoopBackOff), "oom-killed"
// (the same, killed for memory: exit 137, OOMKilled) or "probe-failing" (every container runs
// and has started, but its readiness probe fails).
const AnnotationSimulate = "dynamo-infra.dev/simulate"

// simulatedPodStage is a kwok Stage of ours for a scheduled pod whose AnnotationSimulate is one
// of values: it records a Warning event and keeps the pod Running but not ready, each container
// as container (a status template of its own, indented for the list, with {{ $oom }} true for
// "oom-killed"). Like the pull failure it outweighs pod-ready and writes no timestamps of its
// own, so the pod settles.
func simulatedPodStage(name string, values []string, eventReason, eventMessage, container string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = "      - '" + v + "'"
	}
	return `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: ` + name + `
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  weight: 1
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.spec.nodeName'
      operator: 'Exists'
    - key: '.metadata.annotations["` + AnnotationSimulate + `"]'
      operator: 'In'
      values:
` + strings.Join(quoted, "\n") + `
  next:
    event:
      type: Warning
      reason: ` + eventReason + `
      message: '` + eventMessage + `'
    statusTemplate: |
      {{ $oom := eq (index .metadata.annotations "` + AnnotationSimulate + `") "oom-killed" }}
      phase: Running
      conditions:
      - type: Ready
        status: "False"
        reason: ContainersNotReady
      - type: ContainersReady
        status: "False"
        reason: ContainersNotReady
      containerStatuses:
      {{ range .spec.containers }}
      - name: {{ .name | Quote }}
        image: {{ .image | Quote }}
        imageID: ""
` + container + `
      {{ end }}
`
}

// stageCrashLoop: every container waits in CrashLoopBackOff after 5 restarts, the last ended
// with exit 1 (Error) or, for "oom-killed", 137 (OOMKilled).
var stageCrashLoop = simulatedPodStage("dynamo-pod-crash-loop", []string{"crash-loop", "oom-killed"},
	"BackOff", "Back-off restarting failed container (simulated)", `        restartCount: 5
        ready: false
        started: false
        state:
          waiting:
            reason: CrashLoopBackOff
            message: 'back-off restarting failed container (simulated)'
        lastState:
          terminated:
            exitCode: {{ if $oom }}137{{ else }}1{{ end }}
            reason: {{ if $oom }}OOMKilled{{ else }}Error{{ end }}`)

// stageProbeFailing: every container runs and has started, but is not ready, as when a
// readiness probe keeps failing.
var stageProbeFailing = simulatedPodStage("dynamo-pod-probe-failing", []string{"probe-failing"},
	"Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503 (simulated)", `        restartCount: 0
        ready: false
        started: true
        state:
          running:
            startedAt: {{ $.metadata.creationTimestamp | Quote }}`)
