//go:build !linux

package dynamolocal

import (
	"context"
	"errors"
	"net"
	"os/exec"

	"github.com/nanopipe/nanopipe/local/internal/proc"
)

func canIsolate() bool { return false }

type netns struct{}

func startIsolated(cmd *exec.Cmd) (*proc.Process, *netns, error) {
	return nil, nil, errors.New("private network namespaces need Linux")
}

func (ns *netns) dial(ctx context.Context, addr string) (net.Conn, error) {
	return nil, errors.New("no network namespace")
}

func (ns *netns) close() {}
