package render

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
)

// Intra-pod failover, as upstream renders it (deploy/operator/internal/dynamo: failover.go
// buildFailoverPod, failover_vllm.go applyLegacyVLLMOverrides, failover_trtllm.go
// applyTRTLLMOverrides): after the GPU Memory Service has
// given the main container its shared claim and socket directory, the main container is cloned
// into an active and a standby engine, engine-0 and engine-1, which race for a lock file in that
// directory; each serves its system port (9090, 9091) and its own vLLM side ports.
const (
	failoverEngines      = 2
	failoverLockFile     = "failover.lock"
	vllmMasterPortFlag   = "--master-port"
	vllmMasterPort       = 29500
	vllmMasterPortStride = 100
	vllmNixlSideChannel  = 5600
	vllmKVEventPort      = 20080
)

// failoverEngineContainers are the engines that replace a failover service's main container.
func failoverEngineContainers(c *graph.Component, main corev1.Container) []corev1.Container {
	out := make([]corev1.Container, failoverEngines)
	for i := range failoverEngines {
		out[i] = failoverEngine(c, main, i)
	}
	return out
}

// failoverEngine is engine i: the main container with one port, system-<i> (9090+i), its probes
// pointed at it, the system env replaced (no endpoint-health list: an engine starts notready and
// the standby stays so), the engine's id, container name and the lock path, then the engine's
// overrides — vLLM: the shadow mode, NIXL side-channel and KV-event ports staggered by the id,
// the standby's --master-port moved 100 up (appended when the command has none); TRT-LLM: the
// shadow mode and MASTER_PORT 29500 + 100 × id — and NNODES for a multi-node service. The env keeps upstream's order: the main container's, then these appended.
func failoverEngine(c *graph.Component, main corev1.Container, id int) corev1.Container {
	e := *main.DeepCopy()
	e.Name = fmt.Sprintf("engine-%d", id)
	portName := fmt.Sprintf("system-%d", id)
	systemPort := v1alpha1.PortSystem + id
	e.Ports = []corev1.ContainerPort{{Name: portName, ContainerPort: int32(systemPort), Protocol: corev1.ProtocolTCP}}
	drop := map[string]bool{v1alpha1.EnvSystemHealthStatus: true, v1alpha1.EnvSystemPort: true, v1alpha1.EnvSystemEnabled: true,
		v1alpha1.EnvHealthCheckEnabled: true, v1alpha1.EnvContainerName: true}
	env := e.Env[:0:0]
	for _, v := range e.Env {
		if !drop[v.Name] {
			env = append(env, v)
		}
	}
	env = append(env,
		corev1.EnvVar{Name: "ENGINE_ID", Value: strconv.Itoa(id)},
		corev1.EnvVar{Name: v1alpha1.EnvContainerName, Value: e.Name},
		corev1.EnvVar{Name: "FAILOVER_LOCK_PATH", Value: path.Join(gmsMountPath, failoverLockFile)},
		corev1.EnvVar{Name: "DYN_SYSTEM_STARTING_HEALTH_STATUS", Value: "notready"},
		corev1.EnvVar{Name: v1alpha1.EnvSystemPort, Value: strconv.Itoa(systemPort)},
		corev1.EnvVar{Name: v1alpha1.EnvSystemEnabled, Value: "true"},
	)
	switch c.Backend {
	case "trtllm":
		// failover_trtllm.go: TRT-LLM has no --master-port; torch.distributed reads MASTER_PORT.
		env = append(env,
			corev1.EnvVar{Name: "DYN_TRTLLM_GMS_SHADOW_MODE", Value: "true"},
			corev1.EnvVar{Name: "MASTER_PORT", Value: strconv.Itoa(vllmMasterPort + id*vllmMasterPortStride)})
	default: // vllm (graph.Resolve refuses other engines)
		env = append(env,
			corev1.EnvVar{Name: "DYN_VLLM_GMS_SHADOW_MODE", Value: "true"},
			corev1.EnvVar{Name: "VLLM_NIXL_SIDE_CHANNEL_PORT", Value: strconv.Itoa(vllmNixlSideChannel + id)},
			corev1.EnvVar{Name: "DYN_VLLM_KV_EVENT_PORT", Value: strconv.Itoa(vllmKVEventPort + id)},
		)
		if id > 0 {
			if hasFlag(&e, vllmMasterPortFlag) {
				staggerFlag(&e, vllmMasterPortFlag, id*vllmMasterPortStride)
			} else {
				e.Args = append(e.Args, vllmMasterPortFlag, strconv.Itoa(vllmMasterPort+id*vllmMasterPortStride))
			}
		}
	}
	if c.NodeCount > 1 {
		env = append(env, corev1.EnvVar{Name: "NNODES", Value: strconv.Itoa(int(c.NodeCount))})
	}
	e.Env = env
	for _, p := range []*corev1.Probe{e.StartupProbe, e.LivenessProbe, e.ReadinessProbe} {
		if p != nil && p.HTTPGet != nil {
			p.HTTPGet.Port = intstr.FromString(portName)
		}
	}
	return e
}

// hasFlag: an argument is the flag, or an argument or the command holds "flag " (a shell line).
func hasFlag(c *corev1.Container, flag string) bool {
	return slices.ContainsFunc(c.Args, func(a string) bool { return a == flag || strings.Contains(a, flag+" ") }) ||
		slices.ContainsFunc(c.Command, func(a string) bool { return strings.Contains(a, flag+" ") })
}

// staggerFlag adds offset to the port a flag gives, where upstream looks for it: an argument of
// its own followed by the number, then "flag N" inside an argument, then inside the command; a
// flag with no number there is left as it is.
func staggerFlag(c *corev1.Container, flag string, offset int) bool {
	for i, a := range c.Args {
		if a == flag && i+1 < len(c.Args) {
			if port, err := strconv.Atoi(c.Args[i+1]); err == nil {
				c.Args[i+1] = strconv.Itoa(port + offset)
				return true
			}
		}
	}
	inside := func(list []string) bool {
		for i, s := range list {
			_, rest, ok := strings.Cut(s, flag+" ")
			if !ok {
				continue
			}
			digits := rest[:len(rest)-len(strings.TrimLeft(rest, "0123456789"))]
			if port, err := strconv.Atoi(digits); err == nil {
				list[i] = strings.Replace(s, flag+" "+digits, flag+" "+strconv.Itoa(port+offset), 1)
				return true
			}
		}
		return false
	}
	return inside(c.Args) || inside(c.Command)
}
