//go:build !linux

package rie

import (
	"os"
	"os/exec"
)

func setProcAttr(*exec.Cmd) {}

func killTree(p *os.Process) { p.Kill() }
