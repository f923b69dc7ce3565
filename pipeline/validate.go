package pipeline

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nanopipe/nanopipe/internal/triggerplumbing"
	"github.com/nanopipe/nanopipe/triggers"
)

// checkReferences finds triggers naming resources the app does not
// declare, and stream triggers that cannot be wired.
func (a *App) checkReferences() []error {
	var errs []error
	for _, s := range a.stages {
		if s.object != nil {
			if b := s.Bucket(); b == nil {
				errs = append(errs, fmt.Errorf("pipeline: stage %q is triggered by bucket %q, which app %q does not declare; declare it with app.Bucket or app.ExistingBucket", s.name, s.object.Bucket, a.name))
			}
		}
		if s.stream != nil {
			t := s.Table()
			switch {
			case t == nil:
				errs = append(errs, fmt.Errorf("pipeline: stage %q is triggered by table %q, which app %q does not declare; declare it with app.Table or app.ExistingTable", s.name, s.stream.Table, a.name))
			case t.existing && t.streamARN == "":
				errs = append(errs, fmt.Errorf("pipeline: stage %q is triggered by the stream of existing table %q, which has no stream ARN: enable a stream on the table and declare it with pipeline.StreamARN(\"arn:aws:dynamodb:REGION:ACCOUNT:table/%s/stream/LABEL\")", s.name, t.name, t.name))
			case t.view == ViewKeysOnly && s.itemType != nil:
				// Typed stages on a KEYS_ONLY stream get no images: Old and New
				// are always nil, which is rarely what the author meant.
				errs = append(errs, fmt.Errorf("pipeline: stage %q decodes item images of table %q, whose stream is KEYS_ONLY (no images); declare pipeline.Stream(pipeline.ViewNewAndOldImages) or ViewNewImage on the table, or use OnStreamEvent", s.name, t.name))
			}
		}
	}
	return errs
}

// checkOverlaps finds S3 triggers S3 would refuse together: on one bucket,
// for overlapping event types, with prefixes and suffixes that can both
// match one key. S3 rejects such notification configurations at deploy
// with "Configurations overlap. Configurations on the same bucket cannot
// share a common event type."
func (a *App) checkOverlaps() []error {
	var errs []error
	for i, s := range a.stages {
		if s.object == nil {
			continue
		}
		for _, o := range a.stages[i+1:] {
			if o.object == nil || o.object.Bucket != s.object.Bucket {
				continue
			}
			ev, ok := overlappingEvent(s.object.Events, o.object.Events)
			if !ok || !prefixesOverlap(s.object.Prefix, o.object.Prefix) || !suffixesOverlap(s.object.Suffix, o.object.Suffix) {
				continue
			}
			errs = append(errs, fmt.Errorf("pipeline: stages %q (%s) and %q (%s) of bucket %q overlap on %s: S3 refuses overlapping notifications on one bucket at deploy (\"Configurations overlap\"); make the prefixes or suffixes disjoint, or merge them into one stage that dispatches",
				s.name, filterText(s.object), o.name, filterText(o.object), s.object.Bucket, ev))
		}
	}
	return errs
}

func overlappingEvent(a, b []triggers.S3Event) (triggers.S3Event, bool) {
	for _, x := range a {
		for _, y := range b {
			if triggerplumbing.Overlaps(x, y) {
				if x.Matches(string(y)) {
					return y, true
				}
				return x, true
			}
		}
	}
	return "", false
}

func filterText(t *triggers.ObjectTrigger) string {
	var parts []string
	if t.Prefix != "" {
		parts = append(parts, fmt.Sprintf("prefix %q", t.Prefix))
	}
	if t.Suffix != "" {
		parts = append(parts, fmt.Sprintf("suffix %q", t.Suffix))
	}
	if len(parts) == 0 {
		return "every key"
	}
	return strings.Join(parts, ", ")
}

func prefixesOverlap(a, b string) bool { return strings.HasPrefix(a, b) || strings.HasPrefix(b, a) }
func suffixesOverlap(a, b string) bool { return strings.HasSuffix(a, b) || strings.HasSuffix(b, a) }

// triggersStage reports whether a write (or, with deleteOnly, a delete)
// can fire stage t, and how.
func triggersStage(w access, deleteOnly bool, t *Stage) (string, bool) {
	verb := "writes"
	if deleteOnly {
		verb = "deletes"
	}
	switch {
	case t.object != nil && w.Bucket != nil && w.Bucket.name == t.object.Bucket:
		if deleteOnly && !firesOn(t.object.Events, triggers.ObjectRemoved) {
			return "", false
		}
		if prefixesOverlap(w.Prefix, t.object.Prefix) && suffixesOverlap(w.Suffix, t.object.Suffix) {
			return fmt.Sprintf("%s %s, which triggers %q (%s)", verb, w, t.name, filterText(t.object)), true
		}
	case t.stream != nil && w.Table != nil && w.Table.name == t.stream.Table:
		if deleteOnly && len(t.stream.Kinds) > 0 && !slices.Contains(t.stream.Kinds, triggers.Remove) {
			return "", false
		}
		return fmt.Sprintf("%s %s, whose stream triggers %q", verb, w, t.name), true
	}
	return "", false
}

func firesOn(events []triggers.S3Event, family triggers.S3Event) bool {
	for _, e := range events {
		if triggerplumbing.Overlaps(e, family) {
			return true
		}
	}
	return false
}

// checkLoops finds cycles of stages that trigger each other through their
// writes. A cycle is accepted when one of its stages says, with
// AllowLoop, why it ends.
func (a *App) checkLoops() []error {
	type edge struct {
		to  *Stage
		why string
	}
	next := map[*Stage][]edge{}
	for _, s := range a.stages {
		for _, w := range s.writes {
			for _, t := range a.stages {
				if why, ok := triggersStage(w, false, t); ok {
					next[s] = append(next[s], edge{t, why})
				}
			}
		}
		for _, d := range s.deletes {
			for _, t := range a.stages {
				if why, ok := triggersStage(d, true, t); ok {
					next[s] = append(next[s], edge{t, why})
				}
			}
		}
	}
	var errs []error
	reported := map[string]bool{}
	// Depth-first search from every stage; n is small, clarity wins.
	var path []*Stage
	var whys []string
	onPath := map[*Stage]bool{}
	var visit func(s *Stage)
	visit = func(s *Stage) {
		path = append(path, s)
		onPath[s] = true
		for _, e := range next[s] {
			if onPath[e.to] {
				start := 0
				for i, p := range path {
					if p == e.to {
						start = i
					}
				}
				cycle := append([]*Stage(nil), path[start:]...)
				steps := append(append([]string(nil), whys[start:]...), e.why)
				if err := loopError(cycle, steps, reported); err != nil {
					errs = append(errs, err)
				}
				continue
			}
			whys = append(whys, e.why)
			visit(e.to)
			whys = whys[:len(whys)-1]
		}
		onPath[s] = false
		path = path[:len(path)-1]
	}
	for _, s := range a.stages {
		visit(s)
	}
	return errs
}

func loopError(cycle []*Stage, steps []string, reported map[string]bool) error {
	names := make([]string, len(cycle))
	for i, s := range cycle {
		if s.loopReason != "" {
			return nil
		}
		names[i] = s.name
	}
	// Report each cycle once, whichever stage the search started from.
	key := canonicalCycle(names)
	if reported[key] {
		return nil
	}
	reported[key] = true
	var b strings.Builder
	for i, s := range cycle {
		fmt.Fprintf(&b, "stage %q %s", s.name, steps[i])
		if i < len(cycle)-1 {
			b.WriteString("; ")
		}
	}
	kind, note := "an S3", ""
	for _, s := range cycle {
		if s.stream != nil {
			kind, note = "a DynamoDB stream", " (and AWS cannot detect loops through DynamoDB streams)"
		}
	}
	return fmt.Errorf("pipeline: loop through %s trigger: %s. Each event would fire the loop again without end%s. Write to a prefix or table no stage of the loop is triggered by, or, if the loop ends by itself (the stage checks what it already did before writing), declare .AllowLoop(\"why it ends\") on stage %q",
		kind, b.String(), note, cycle[0].name)
}

func canonicalCycle(names []string) string {
	min := 0
	for i, n := range names {
		if n < names[min] {
			min = i
		}
	}
	rot := append(append([]string(nil), names[min:]...), names[:min]...)
	return strings.Join(rot, ">")
}

// checkGroups finds groups the runtime could not route: two stages of one
// function triggered by the same table, whose batches carry nothing that
// tells the stages apart.
func (a *App) checkGroups() []error {
	var errs []error
	for fn, stages := range a.groups() {
		if len(stages) < 2 {
			continue
		}
		byTable := map[string]string{}
		for _, s := range stages {
			if s.stream == nil {
				continue
			}
			if prev, ok := byTable[s.stream.Table]; ok {
				errs = append(errs, fmt.Errorf("pipeline: group %q has stages %q and %q triggered by the stream of table %q: a batch does not say which of them it is for; put them in different groups, or merge them into one stage", fn, prev, s.name, s.stream.Table))
				continue
			}
			byTable[s.stream.Table] = s.name
		}
		if a.StageNamed(fn) != nil && len(stages) > 0 && stages[0].group != "" {
			errs = append(errs, fmt.Errorf("pipeline: group %q has the name of a stage; rename the group", fn))
		}
	}
	return errs
}
