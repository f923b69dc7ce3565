//go:build !linux

package proc

import "errors"

func start(p *Process, newNetNS bool) error {
	if newNetNS {
		return errors.New("proc: network namespaces need Linux")
	}
	if err := p.Cmd.Start(); err != nil {
		return err
	}
	go func() { p.err = p.Cmd.Wait(); close(p.exited) }()
	return nil
}
