package stages

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// Archived is the JSON document Archive writes for a removed item. Keys
// and OldImage are in DynamoDB's JSON form ({"S": "..."}), exactly as the
// stream carried them, so the item can be restored as it was:
//
//	aws dynamodb put-item --table-name T --item "$(jq .old_image archived.json)"
type Archived struct {
	// Table is the declared name of the table.
	Table    string          `json:"table"`
	Keys     json.RawMessage `json:"keys"`
	OldImage json.RawMessage `json:"old_image"`
	// RemovedAt is when the removal reached the stream.
	RemovedAt time.Time `json:"removed_at"`
	// Expired is true for removals by DynamoDB's time to live.
	Expired        bool   `json:"expired"`
	EventID        string `json:"event_id"`
	SequenceNumber string `json:"sequence_number"`
}

// ArchiveOption configures Archive.
type ArchiveOption func(*archiveConfig)

type archiveConfig struct {
	expiredOnly bool
}

// ExpiredOnly archives only the items DynamoDB's time to live removed,
// not those removed by a delete.
func ExpiredOnly() ArchiveOption { return func(c *archiveConfig) { c.expiredOnly = true } }

// Archive declares a stage that writes every item removed from the table
// its trigger watches to bucket dst as a JSON document (Archived), under
//
//	PREFIX TABLE/YYYY/MM/DD/KEY@SEQUENCE.json
//
// where TABLE is the table's declared name, the date is the removal's
// (UTC), KEY the item's key values (URL-escaped, joined by ",") and
// SEQUENCE the record's sequence number. The trigger should take removals
// only (triggers.Remove); other records are acknowledged and ignored.
//
// The object name depends only on the record, so a redelivered record
// rewrites the same object: archiving is idempotent. The table's stream
// must carry old images (the default NEW_AND_OLD_IMAGES does). It
// declares writing dst.Keys(prefix, "").
func Archive(app *pipeline.App, name string, t triggers.StreamTrigger, dst *pipeline.Bucket, prefix string, opts ...ArchiveOption) (s *pipeline.Stage) {
	defer refusedStream(app, name, t, &s)
	if app == nil {
		declError(name, "the app is nil")
	}
	ownBucket(app, name, dst, "the archive bucket")
	if len(t.Kinds) > 0 && !slices.Contains(t.Kinds, triggers.Remove) {
		declError(name, "Archive keeps removed items, but its trigger takes only %v; add triggers.Remove", t.Kinds)
	}
	table := app.TableNamed(t.Table)
	if table == nil {
		declError(name, "its trigger names table %q, which app %q does not declare", t.Table, app.Name())
	}
	{
		switch table.StreamView() {
		case pipeline.ViewNewImage, pipeline.ViewKeysOnly:
			declError(name, "table %s has a %s stream, without the old images Archive keeps; declare pipeline.Stream(pipeline.ViewNewAndOldImages) or ViewOldImage", table.Name(), table.StreamView())
		}
	}
	var cfg archiveConfig
	for _, o := range opts {
		if o == nil {
			declError(name, "nil ArchiveOption")
		}
		o(&cfg)
	}
	a := &archiver{table: table, dst: dst, prefix: prefix, cfg: cfg}
	return pipeline.OnChange(app, name, t, a.run).Writes(dst.Keys(prefix, ""))
}

// rawImage skips decoding: Archive copies the images as the stream
// carried them.
type rawImage struct{}

func (*rawImage) UnmarshalDynamoDBAttributeValue(types.AttributeValue) error { return nil }

type archiver struct {
	table  *pipeline.Table
	dst    *pipeline.Bucket
	prefix string
	cfg    archiveConfig
}

func (a *archiver) run(ctx context.Context, c triggers.Change[rawImage]) error {
	if c.Kind != triggers.Remove || (a.cfg.expiredOnly && !c.TTL) {
		return nil
	}
	var rec struct {
		Dynamodb struct {
			Keys     json.RawMessage
			OldImage json.RawMessage
		} `json:"dynamodb"`
	}
	raw := c.RawRecord()
	if raw == nil {
		return fmt.Errorf("archive: record %s has no raw form", c.EventID)
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		return fmt.Errorf("archive: record %s: %w", c.EventID, err)
	}
	if len(rec.Dynamodb.OldImage) == 0 {
		return fmt.Errorf("archive: the REMOVE record %s carries no old image; the stream of table %s must include old images", c.EventID, c.Table)
	}
	doc := Archived{
		Table:          a.table.Name(),
		Keys:           rec.Dynamodb.Keys,
		OldImage:       rec.Dynamodb.OldImage,
		RemovedAt:      c.CreatedAt.UTC(),
		Expired:        c.TTL,
		EventID:        c.EventID,
		SequenceNumber: c.SequenceNumber,
	}
	body, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("archive: record %s: %w", c.EventID, err)
	}
	key := a.objectKey(c.Keys, doc.RemovedAt, c.SequenceNumber)
	if err := a.dst.Put(ctx, key, append(body, '\n'), pipeline.ContentType("application/json")); err != nil {
		return fmt.Errorf("archive removed item of table %s: %w", a.table.Name(), err)
	}
	return nil
}

// ArchiveKey is where Archive writes a removed item, for code that reads
// the archive back.
func ArchiveKey(prefix, table string, keys map[string]types.AttributeValue, keyNames []string, removedAt time.Time, sequence string) string {
	parts := make([]string, 0, len(keyNames))
	for _, k := range keyNames {
		parts = append(parts, url.PathEscape(attrText(keys[k])))
	}
	return fmt.Sprintf("%s%s/%s/%s@%s.json", prefix, table, removedAt.UTC().Format("2006/01/02"), strings.Join(parts, ","), sequence)
}

func (a *archiver) objectKey(keys map[string]types.AttributeValue, at time.Time, seq string) string {
	var names []string
	for _, k := range tableKeys(a.table) {
		names = append(names, k.Name)
	}
	return ArchiveKey(a.prefix, a.table.Name(), keys, names, at, seq)
}

func attrText(v types.AttributeValue) string {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberN:
		return v.Value
	case *types.AttributeValueMemberB:
		return fmt.Sprintf("%x", v.Value)
	}
	return ""
}
