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

// stageCrashLoop is a kwok Stage of ours: a scheduled pod annotated for it runs its containers
// into CrashLoopBackOff, each with a last termination (exit code and reason), as a kubelet
// reports a process that keeps dying. Like the pull failure it outweighs pod-ready and writes no
// timestamps, so the pod settles.
const stageCrashLoop = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: dynamo-pod-crash-loop
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
    - key: '.metadata.annotations["dynamo-infra.dev/simulate"]'
      operator: 'In'
      values:
      - 'crash-loop'
      - 'oom-killed'
  next:
    event:
      type: Warning
      reason: BackOff
      message: 'Back-off restarting failed container (simulated)'
    statusTemplate: |
      {{ $oom := eq (index .metadata.annotations "dynamo-infra.dev/simulate") "oom-killed" }}
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
        restartCount: 5
        ready: false
        started: false
        state:
          waiting:
            reason: CrashLoopBackOff
            message: 'back-off restarting failed container (simulated)'
        lastState:
          terminated:
            exitCode: {{ if $oom }}137{{ else }}1{{ end }}
            reason: {{ if $oom }}OOMKilled{{ else }}Error{{ end }}
      {{ end }}
`

// stageProbeFailing is a kwok Stage of ours: a scheduled pod annotated for it runs with every
// container started but not ready, and a Warning Unhealthy event, as a kubelet reports a
// readiness probe that keeps failing.
const stageProbeFailing = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: dynamo-pod-probe-failing
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
    - key: '.metadata.annotations["dynamo-infra.dev/simulate"]'
      operator: 'In'
      values:
      - 'probe-failing'
  next:
    event:
      type: Warning
      reason: Unhealthy
      message: 'Readiness probe failed: HTTP probe failed with statuscode: 503 (simulated)'
    statusTemplate: |
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
        restartCount: 0
        ready: false
        started: true
        state:
          running:
            startedAt: {{ $.metadata.creationTimestamp | Quote }}
      {{ end }}
`
