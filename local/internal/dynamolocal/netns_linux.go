package dynamolocal

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/nanopipe/nanopipe/local/internal/proc"
)

// canIsolate reports whether a private network namespace can be made:
// creating one needs root (CAP_SYS_ADMIN).
func canIsolate() bool {
	if os.Geteuid() != 0 {
		return false
	}
	_, err := os.Stat("/proc/self/ns/net")
	return err == nil
}

// startIsolated starts cmd in a new network namespace and returns a way
// to dial into it.
func startIsolated(cmd *exec.Cmd) (*proc.Process, *netns, error) {
	p, err := proc.Start(cmd, true)
	if err != nil {
		return nil, nil, err
	}
	ns, err := openNetns(cmd.Process.Pid)
	if err != nil {
		p.Stop(0)
		return nil, nil, err
	}
	return p, ns, nil
}

// netns dials from a thread that entered another network namespace: a
// socket belongs to the namespace of the thread that made it, and keeps
// it.
type netns struct {
	reqs chan dialReq
	done chan struct{}
}

type dialReq struct {
	ctx  context.Context
	addr string
	res  chan dialRes
}

type dialRes struct {
	c   net.Conn
	err error
}

func openNetns(pid int) (*netns, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return nil, err
	}
	ns := &netns{reqs: make(chan dialReq), done: make(chan struct{})}
	ready := make(chan error, 1)
	go ns.loop(f, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return ns, nil
}

func (ns *netns) loop(f *os.File, ready chan<- error) {
	// Never unlocked: the thread ends with this goroutine, so no other
	// goroutine runs in the other namespace.
	runtime.LockOSThread()
	err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
	f.Close()
	if err != nil {
		ready <- fmt.Errorf("setns: %w", err)
		return
	}
	if err := loopbackUp(); err != nil {
		ready <- fmt.Errorf("bring up lo: %w", err)
		return
	}
	ready <- nil
	var d net.Dialer
	for {
		select {
		case r := <-ns.reqs:
			c, err := d.DialContext(r.ctx, "tcp", r.addr)
			r.res <- dialRes{c, err}
		case <-ns.done:
			return
		}
	}
}

func (ns *netns) dial(ctx context.Context, addr string) (net.Conn, error) {
	r := dialReq{ctx: ctx, addr: addr, res: make(chan dialRes, 1)}
	select {
	case ns.reqs <- r:
	case <-ns.done:
		return nil, errors.New("dynamolocal: server closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	res := <-r.res
	return res.c, res.err
}

func (ns *netns) close() { close(ns.done) }

// loopbackUp sets the flag IFF_UP of interface lo in the thread's network
// namespace (a new namespace has it down).
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}
