// Package proc starts the external servers of the local environment
// (DynamoDB Local, versitygw) as child processes that die with the
// process that started them, even when it crashes or is killed.
package proc

import (
	"errors"
	"os"
	"os/exec"
	"sync"
	"time"
)

// Process is a started child process.
type Process struct {
	Cmd    *exec.Cmd
	exited chan struct{}
	err    error
	once   sync.Once
}

// Start starts cmd. On Linux the child gets SIGKILL when the starting
// process ends; newNetNS also puts it in a new network namespace of its
// own (which needs root).
func Start(cmd *exec.Cmd, newNetNS bool) (*Process, error) {
	p := &Process{Cmd: cmd, exited: make(chan struct{})}
	if err := start(p, newNetNS); err != nil {
		return nil, err
	}
	return p, nil
}

// Exited is closed when the process has ended.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is the process's exit error, once Exited is closed.
func (p *Process) Err() error {
	<-p.exited
	return p.err
}

// Stop interrupts the process, kills it if it has not ended after grace,
// and waits for it. It returns nil for a process that ended by a signal.
func (p *Process) Stop(grace time.Duration) error {
	var err error
	p.once.Do(func() {
		select {
		case <-p.exited:
		default:
			p.Cmd.Process.Signal(os.Interrupt)
			select {
			case <-p.exited:
			case <-time.After(grace):
				p.Cmd.Process.Kill()
				<-p.exited
			}
		}
		var ee *exec.ExitError
		if p.err != nil && !errors.As(p.err, &ee) {
			err = p.err
		}
	})
	return err
}
