package pipeline

import (
	"fmt"

	"github.com/nanopipe/nanopipe/internal/contract"
)

// resources returns the buckets and tables the stages touch (triggers,
// reads and writes), in declaration order: what a function serving them
// needs names for.
func resources(stages []*Stage) ([]*Bucket, []*Table) {
	if len(stages) == 0 {
		return nil, nil
	}
	app := stages[0].app
	useB, useT := map[*Bucket]bool{}, map[*Table]bool{}
	for _, s := range stages {
		if b := s.Bucket(); b != nil {
			useB[b] = true
		}
		if t := s.Table(); t != nil {
			useT[t] = true
		}
		for _, a := range append(append(append([]access(nil), s.reads...), s.writes...), s.deletes...) {
			if a.Bucket != nil {
				useB[a.Bucket] = true
			}
			if a.Table != nil {
				useT[a.Table] = true
			}
		}
	}
	var bs []*Bucket
	var ts []*Table
	for _, b := range app.buckets {
		if useB[b] {
			bs = append(bs, b)
		}
	}
	for _, t := range app.tables {
		if useT[t] {
			ts = append(ts, t)
		}
	}
	return bs, ts
}

// streamTables returns the tables whose streams trigger the stages.
func streamTables(stages []*Stage) []*Table {
	var out []*Table
	seen := map[*Table]bool{}
	for _, s := range stages {
		if t := s.Table(); t != nil && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

func (a *App) checkEnvNames() []error {
	var errs []error
	seen := map[string]string{}
	for _, b := range a.buckets {
		v := contract.BucketVar(b.name)
		if prev, ok := seen[v]; ok {
			errs = append(errs, fmt.Errorf("pipeline: bucket %q and %s map to the same variable %s; rename one (names differing only in case, '.', '-' or '_' collide)", b.name, prev, v))
		}
		seen[v] = fmt.Sprintf("bucket %q", b.name)
	}
	for _, t := range a.tables {
		v := contract.TableVar(t.name)
		if prev, ok := seen[v]; ok {
			errs = append(errs, fmt.Errorf("pipeline: table %q and %s map to the same variable %s; rename one (names differing only in case, '.', '-' or '_' collide)", t.name, prev, v))
		}
		seen[v] = fmt.Sprintf("table %q", t.name)
	}
	return errs
}
