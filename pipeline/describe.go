package pipeline

import (
	"encoding/json"
	"time"

	"github.com/nanopipe/nanopipe/triggers"
)

type described struct {
	App     string           `json:"app"`
	Buckets []describedB     `json:"buckets"`
	Tables  []describedT     `json:"tables"`
	Stages  []describedStage `json:"stages"`
}

type describedB struct {
	Name      string `json:"name"`
	Existing  bool   `json:"existing,omitempty"`
	Versioned bool   `json:"versioned,omitempty"`
}

type describedT struct {
	Name      string        `json:"name"`
	Existing  bool          `json:"existing,omitempty"`
	Partition KeyAttr       `json:"partition"`
	Sort      *KeyAttr      `json:"sort,omitempty"`
	Stream    StreamView    `json:"stream,omitempty"`
	StreamARN string        `json:"streamArn,omitempty"`
	TTL       string        `json:"ttl,omitempty"`
	Indexes   []describedIx `json:"indexes,omitempty"`
}

type describedIx struct {
	Name      string   `json:"name"`
	Global    bool     `json:"global"`
	Partition KeyAttr  `json:"partition"`
	Sort      *KeyAttr `json:"sort,omitempty"`
}

type describedStage struct {
	Name      string         `json:"name"`
	Group     string         `json:"group,omitempty"`
	Object    *describedObj  `json:"object,omitempty"`
	Stream    *describedStrm `json:"stream,omitempty"`
	Reads     []string       `json:"reads,omitempty"`
	Writes    []string       `json:"writes,omitempty"`
	Deletes   []string       `json:"deletes,omitempty"`
	Function  describedFn    `json:"function"`
	AllowLoop string         `json:"allowLoop,omitempty"`
	ItemType  string         `json:"itemType,omitempty"`
}

type describedObj struct {
	Bucket      string               `json:"bucket"`
	Events      []triggers.S3Event   `json:"events"`
	Prefix      string               `json:"prefix,omitempty"`
	Suffix      string               `json:"suffix,omitempty"`
	Retries     int                  `json:"retries"`
	MaxEventAge time.Duration        `json:"maxEventAge"`
	OnFailure   triggers.Destination `json:"onFailure"`
}

type describedStrm struct {
	Table            string                    `json:"table"`
	Patterns         []string                  `json:"patterns,omitempty"`
	BatchSize        int                       `json:"batchSize"`
	BatchingWindow   time.Duration             `json:"batchingWindow,omitempty"`
	StartingPosition triggers.StartingPosition `json:"startingPosition"`
	Retries          int                       `json:"retries"`
	Bisect           bool                      `json:"bisect,omitempty"`
	MaxRecordAge     time.Duration             `json:"maxRecordAge,omitempty"`
	Parallelization  int                       `json:"parallelization"`
	TumblingWindow   time.Duration             `json:"tumblingWindow,omitempty"`
	OnFailure        triggers.Destination      `json:"onFailure"`
}

type describedFn struct {
	MemoryMB            int               `json:"memoryMB"`
	Timeout             time.Duration     `json:"timeout"`
	Arch                Arch              `json:"arch"`
	ReservedConcurrency *int              `json:"reservedConcurrency,omitempty"`
	Environment         map[string]string `json:"environment,omitempty"`
}

// Describe returns the declaration as JSON: resources (tables with their
// secondary indexes), stages with every
// trigger setting (filters as their compiled patterns), declared accesses
// and function settings. Two binaries declaring the same pipeline describe
// it identically.
func (a *App) Describe() []byte {
	d := described{App: a.name, Buckets: []describedB{}, Tables: []describedT{}, Stages: []describedStage{}}
	for _, b := range a.buckets {
		d.Buckets = append(d.Buckets, describedB{Name: b.name, Existing: b.existing, Versioned: b.versioned})
	}
	for _, t := range a.tables {
		dt := describedT{Name: t.name, Existing: t.existing, Partition: t.partition, Sort: t.sort, Stream: t.StreamView(), StreamARN: t.streamARN, TTL: t.ttlAttr}
		for _, ix := range t.indexes {
			dt.Indexes = append(dt.Indexes, describedIx{Name: ix.name, Global: ix.global, Partition: ix.partition, Sort: ix.sort})
		}
		d.Tables = append(d.Tables, dt)
	}
	strs := func(as []access) []string {
		var out []string
		for _, x := range as {
			out = append(out, x.String())
		}
		return out
	}
	for _, s := range a.stages {
		fn := s.Function()
		ds := describedStage{Name: s.name, Group: s.group, Reads: strs(s.reads), Writes: strs(s.writes), Deletes: strs(s.deletes),
			Function:  describedFn{MemoryMB: fn.MemoryMB, Timeout: fn.Timeout, Arch: fn.Arch, ReservedConcurrency: fn.ReservedConcurrency, Environment: fn.Environment},
			AllowLoop: s.loopReason}
		if s.itemType != nil {
			ds.ItemType = s.itemType.String()
		}
		if t := s.object; t != nil {
			ds.Object = &describedObj{Bucket: t.Bucket, Events: t.Events, Prefix: t.Prefix, Suffix: t.Suffix, Retries: t.Retries, MaxEventAge: t.MaxEventAge, OnFailure: t.OnFailure}
		}
		if t := s.stream; t != nil {
			pats, err := t.Patterns()
			if err != nil {
				pats = []string{"error: " + err.Error()}
			}
			ds.Stream = &describedStrm{Table: t.Table, Patterns: pats, BatchSize: t.BatchSize, BatchingWindow: t.BatchingWindow, StartingPosition: t.StartingPosition,
				Retries: t.Retries, Bisect: t.Bisect, MaxRecordAge: t.MaxRecordAge, Parallelization: t.Parallelization, TumblingWindow: t.TumblingWindow, OnFailure: t.OnFailure}
		}
		d.Stages = append(d.Stages, ds)
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		// Every field is a plain value; a failure here is a bug.
		panic("pipeline: describe: " + err.Error())
	}
	return append(b, '\n')
}
