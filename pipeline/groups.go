package pipeline

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

// functionConfig returns the configuration of the function named name (a
// group, or an ungrouped stage): the largest memory and timeout its stages
// ask for, their one architecture and reserved concurrency, and the union
// of their variables. What cannot be merged is an error naming both
// stages: a function has one architecture, one environment and one
// asynchronous-invoke configuration.
func (a *App) functionConfig(name string) (Function, error) {
	stages := a.groups()[name]
	if len(stages) == 0 {
		return Function{}, fmt.Errorf("pipeline: app %q has no stage or group %q", a.name, name)
	}
	var cfg Function
	env := map[string]string{}
	envFrom := map[string]string{}
	var archFrom, reservedFrom string
	var asyncFrom *Stage
	var errs []error
	for i, s := range stages {
		c := s.Function()
		if i == 0 {
			cfg = Function{MemoryMB: c.MemoryMB, Timeout: c.Timeout, Arch: c.Arch, ReservedConcurrency: c.ReservedConcurrency}
			archFrom = s.name
			if c.ReservedConcurrency != nil {
				reservedFrom = s.name
			}
		} else {
			cfg.MemoryMB = max(cfg.MemoryMB, c.MemoryMB)
			cfg.Timeout = max(cfg.Timeout, c.Timeout)
			if c.Arch != cfg.Arch {
				errs = append(errs, fmt.Errorf("pipeline: group %q: stage %q runs on %s but stage %q on %s; a function has one architecture: declare the same Architecture or put them in different groups", name, archFrom, cfg.Arch, s.name, c.Arch))
			}
			if c.ReservedConcurrency != nil {
				switch {
				case cfg.ReservedConcurrency == nil:
					cfg.ReservedConcurrency, reservedFrom = c.ReservedConcurrency, s.name
				case *cfg.ReservedConcurrency != *c.ReservedConcurrency:
					errs = append(errs, fmt.Errorf("pipeline: group %q: stages %q and %q reserve different concurrency (%d and %d) for their one function; declare it on one stage only", name, reservedFrom, s.name, *cfg.ReservedConcurrency, *c.ReservedConcurrency))
				}
			}
		}
		for _, k := range slices.Sorted(maps.Keys(c.Environment)) {
			v := c.Environment[k]
			if prev, ok := env[k]; ok && prev != v {
				errs = append(errs, fmt.Errorf("pipeline: group %q: stages %q and %q set variable %s to different values; their function has one environment: rename one", name, envFrom[k], s.name, k))
				continue
			}
			env[k], envFrom[k] = v, s.name
		}
		if t := s.object; t != nil {
			if asyncFrom == nil {
				asyncFrom = s
			} else if o := asyncFrom.object; t.Retries != o.Retries || t.MaxEventAge != o.MaxEventAge || t.OnFailure != o.OnFailure {
				errs = append(errs, fmt.Errorf("pipeline: group %q: stages %q and %q declare different Retries, MaxEventAge or OnFailure for their S3 triggers, but Lambda keeps one asynchronous invocation configuration per function; declare the same values on both or put them in different groups", name, asyncFrom.name, s.name))
			}
		}
	}
	if len(env) > 0 {
		cfg.Environment = env
	}
	return cfg, errors.Join(errs...)
}

func (a *App) checkFunctions() []error {
	var errs []error
	for _, name := range a.functionNames() {
		if _, err := a.functionConfig(name); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
