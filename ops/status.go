package ops

import "time"

// State is what opsroom reports a service as.
type State string

const (
	StateRunning     State = "running"
	StateRestarting  State = "restarting"
	StateExited      State = "exited"
	StateNotDeployed State = "not-deployed"
	StateUnhealthy   State = "unhealthy"
	StateUnreachable State = "unreachable"
	StateUnknown     State = "unknown"
)

// Status is one service's state as one probe saw it.
type Status struct {
	Service, Host string
	Kind          Kind
	// Object is what the backend calls the service, its container or unit,
	// and Noun what such an object is: "container", "unit".
	Object, Noun string
	State        State
	// Native is the backend's own word for the state: docker's running,
	// exited, dead, created, paused, restarting, removing; systemd's
	// ActiveState (active, failed, inactive, …) or LoadState not-found.
	Native       string
	StartedAt    time.Time
	FinishedAt   time.Time
	RestartCount int
	Health       string // "", healthy, unhealthy, starting
	ExitCode     int
	Image        string
	Commit       string       // compose: the deployed commit
	Probe        *ProbeResult // the health probe's answer, when the service has one and runs
	Raw          string       // output that could not be parsed
	Err          error        // why unreachable or unknown
	// Preflight is the check the last preflight failed for the service or
	// its host, until a preflight or a probe says otherwise.
	Preflight *Check
	// OOMKilled says the kernel's OOM killer ended it (docker and podman
	// inspect's State.OOMKilled, systemd's Result=oom-kill).
	OOMKilled bool
	// MemoryLimit is a container's memory limit in bytes (0: none).
	MemoryLimit int64
}
