package proc

import (
	"runtime"
	"syscall"
)

// start starts the child from a goroutine locked to its thread, which it
// keeps until the child ends: the parent-death signal is tied to the
// thread that started the child, and Go ends the thread of a goroutine
// that exits locked.
func start(p *Process, newNetNS bool) error {
	var flags uintptr
	if newNetNS {
		flags = syscall.CLONE_NEWNET
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		p.Cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags, Pdeathsig: syscall.SIGKILL}
		if err := p.Cmd.Start(); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		errc <- nil
		p.err = p.Cmd.Wait()
		close(p.exited)
		runtime.UnlockOSThread()
	}()
	return <-errc
}
