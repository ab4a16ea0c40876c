// Command measure runs a command and writes "<wall ns> <peak RSS KiB> <CPU ns>" of it to file
// descriptor 3, exiting with its code. CPU is user and system time of the command and of the
// processes it waited for; peak RSS is that of the largest of them. Benchmarks start programs through it (load.Runs): Linux
// gives a process started from a large one the starter's high-water RSS as its own peak (Go
// starts children by vfork and exec), so a benchmark holding a loaded cluster's client would
// see its own size in every child. This program imports next to nothing: its few MiB are the
// floor of what can be seen.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: measure COMMAND [ARG...]  (report on fd 3)")
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	t0 := time.Now()
	err := cmd.Run()
	elapsed := time.Since(t0)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		fmt.Fprintln(os.Stderr, "measure:", err)
		os.Exit(125)
	}
	var kb int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		kb = ru.Maxrss
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	report := os.NewFile(3, "report")
	fmt.Fprintf(report, "%d %d %d\n", elapsed.Nanoseconds(), kb, cpu.Nanoseconds())
	report.Close()
	os.Exit(cmd.ProcessState.ExitCode())
}
