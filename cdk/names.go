package cdk

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
)

// AWS limits on the names the construct chooses.
const (
	maxFunctionName = 64  // Lambda function names
	maxQueueName    = 80  // SQS queue names
	maxTableName    = 255 // DynamoDB table names
	maxAlarmName    = 255 // CloudWatch alarm names
)

// physicalName joins parts with '-' and fits the result into max
// characters. A name that is too long keeps its start and ends with a
// hash of the whole name, so distinct long names stay distinct, and the
// same declaration gives the same name on every synth.
func physicalName(max int, parts ...string) string {
	n := strings.Join(parts, "-")
	if len(n) <= max {
		return n
	}
	sum := sha256.Sum256([]byte(n))
	h := hex.EncodeToString(sum[:4])
	return strings.TrimRight(n[:max-len(h)-1], "-_.") + "-" + h
}

var environmentRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,15}$`)

func checkEnvironment(env string) error {
	if !environmentRE.MatchString(env) {
		return fmt.Errorf("cdk: environment %q: use 1-16 lowercase letters, digits or '-', starting with a letter (cdk synth -c stage=dev)", env)
	}
	return nil
}

// ids gives each declared name (stage, group, bucket, table) a construct
// id fragment in PascalCase, so logical IDs read like the declaration
// ("count-albums" -> "CountAlbums..."). Names that only differ in case or
// separators would collide; the later one gets a hash suffix.
type ids struct {
	byName map[string]string
	used   map[string]bool
}

func newIDs() *ids { return &ids{byName: map[string]string{}, used: map[string]bool{}} }

func (x *ids) get(name string) string {
	if id, ok := x.byName[name]; ok {
		return id
	}
	id := pascal(name)
	if x.used[id] {
		sum := sha256.Sum256([]byte(name))
		id += hex.EncodeToString(sum[:3])
	}
	x.byName[name] = id
	x.used[id] = true
	return id
}

func pascal(name string) string {
	var b strings.Builder
	up := true
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z':
			if up {
				r -= 'a' - 'A'
			}
			b.WriteRune(r)
			up = false
		case (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'):
			b.WriteRune(r)
			up = false
		default:
			up = true
		}
	}
	if b.Len() == 0 {
		return "X"
	}
	return b.String()
}
