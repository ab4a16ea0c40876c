// Package exit maps command errors to dynamoctl's documented exit codes.
package exit

import (
	"errors"
	"strings"
)

// Exit codes of every dynamoctl command (docs/cli/exit-codes.md).
const (
	OK = 0
	// Failure: the command ran and failed (or found a failing result).
	Failure = 1
	// Usage: bad flags, arguments or input; nothing was done.
	Usage = 2
	// Unreachable: the cluster is not running or cannot be reached.
	Unreachable = 3
	// Warnings: a check command found warnings and --strict was given (dynamoctl preflight).
	Warnings = 4
	// Interrupted: stopped by SIGINT/SIGTERM after cleaning up (128 + SIGINT, as shells report).
	Interrupted = 130
)

// Meanings are what each code means, in order: docs/cli/exit-codes.md is written from them.
var Meanings = []struct {
	Code    int
	Meaning string
}{
	{OK, "Done; for a check, everything passed (for `explain`, the graph is Ready; for `plan`, every pod fits)."},
	{Failure, "The command ran and failed, or found a failing result: a check failed, a graph does not fit or is not Ready, an object does not exist, the API server refused a request (403, 409, …). A path on this machine that cannot be read or written (a `--bundle` directory that is a file, a `pvc cp` destination under a file, a `--dir` that cannot be made) is 1 too: the user's disk, never the cluster."},
	{Usage, "Bad flags, arguments or input (a manifest the API server would refuse, a bound exceeded such as `plan --replicas` over 150000); nothing was done."},
	{Unreachable, "The cluster is not configured (no kubeconfig, a `KUBECONFIG` naming no file, a bad `--context`) or cannot be reached (refused, timed out, DNS, TLS)."},
	{Warnings, "`preflight --strict` found warnings."},
	{Interrupted, "Stopped by Ctrl-C (SIGINT) or SIGTERM after cleaning up (no temporary pod is left behind). `get dgd -w` ends this way with 0: Ctrl-C is how a watch ends."},
}

// Error carries an exit code with the error a person reads.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// WithCode wraps err with an exit code; a nil err stays nil.
func WithCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// UsageError wraps err as a usage error (exit 2).
func UsageError(err error) error { return WithCode(Usage, err) }

// Code returns the exit code for err: the code it carries, Usage for cobra's own argument and
// command errors, Failure otherwise.
func Code(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires ", "invalid argument"} {
		if strings.HasPrefix(msg, p) {
			return Usage
		}
	}
	return Failure
}
