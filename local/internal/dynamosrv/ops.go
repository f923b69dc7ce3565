package dynamosrv

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// ---- shapes shared by operations

type exprParams struct {
	ExpressionAttributeNames  map[string]string `json:"ExpressionAttributeNames"`
	ExpressionAttributeValues map[string]*Value `json:"ExpressionAttributeValues"`
}

func (p exprParams) check() error {
	if p.ExpressionAttributeNames != nil && len(p.ExpressionAttributeNames) == 0 {
		return validation("ExpressionAttributeNames must not be empty")
	}
	if p.ExpressionAttributeValues != nil && len(p.ExpressionAttributeValues) == 0 {
		return validation("ExpressionAttributeValues must not be empty")
	}
	for k, v := range p.ExpressionAttributeValues {
		if err := validateValue(v); err != nil {
			return validation("ExpressionAttributeValues contains invalid value: " + err.Error() + " for key " + k)
		}
	}
	return nil
}

type consumed struct {
	TableName     string  `json:"TableName"`
	CapacityUnits float64 `json:"CapacityUnits"`
}

func capacity(mode, table string, units float64) *consumed {
	if mode == "" || mode == "NONE" {
		return nil
	}
	return &consumed{TableName: table, CapacityUnits: units}
}

// ---- table descriptions

type keySchemaElement struct {
	AttributeName string `json:"AttributeName"`
	KeyType       string `json:"KeyType"`
}

type attributeDefinition struct {
	AttributeName string `json:"AttributeName"`
	AttributeType string `json:"AttributeType"`
}

type throughput struct {
	ReadCapacityUnits  int64 `json:"ReadCapacityUnits"`
	WriteCapacityUnits int64 `json:"WriteCapacityUnits"`
}

type throughputDesc struct {
	NumberOfDecreasesToday int64 `json:"NumberOfDecreasesToday"`
	ReadCapacityUnits      int64 `json:"ReadCapacityUnits"`
	WriteCapacityUnits     int64 `json:"WriteCapacityUnits"`
}

type projectionJSON struct {
	ProjectionType   string   `json:"ProjectionType,omitempty"`
	NonKeyAttributes []string `json:"NonKeyAttributes,omitempty"`
}

type streamSpec struct {
	StreamEnabled  bool   `json:"StreamEnabled"`
	StreamViewType string `json:"StreamViewType,omitempty"`
}

type indexDesc struct {
	IndexName             string             `json:"IndexName"`
	KeySchema             []keySchemaElement `json:"KeySchema"`
	Projection            projectionJSON     `json:"Projection"`
	IndexStatus           string             `json:"IndexStatus,omitempty"`
	ProvisionedThroughput *throughputDesc    `json:"ProvisionedThroughput,omitempty"`
	IndexSizeBytes        int64              `json:"IndexSizeBytes"`
	ItemCount             int64              `json:"ItemCount"`
	IndexArn              string             `json:"IndexArn"`
}

type billingSummary struct {
	BillingMode                       string  `json:"BillingMode"`
	LastUpdateToPayPerRequestDateTime float64 `json:"LastUpdateToPayPerRequestDateTime,omitempty"`
}

type tableDesc struct {
	AttributeDefinitions      []attributeDefinition `json:"AttributeDefinitions"`
	TableName                 string                `json:"TableName"`
	KeySchema                 []keySchemaElement    `json:"KeySchema"`
	TableStatus               string                `json:"TableStatus"`
	CreationDateTime          float64               `json:"CreationDateTime"`
	ProvisionedThroughput     throughputDesc        `json:"ProvisionedThroughput"`
	TableSizeBytes            int64                 `json:"TableSizeBytes"`
	ItemCount                 int64                 `json:"ItemCount"`
	TableArn                  string                `json:"TableArn"`
	TableId                   string                `json:"TableId"`
	BillingModeSummary        *billingSummary       `json:"BillingModeSummary,omitempty"`
	GlobalSecondaryIndexes    []indexDesc           `json:"GlobalSecondaryIndexes,omitempty"`
	LocalSecondaryIndexes     []indexDesc           `json:"LocalSecondaryIndexes,omitempty"`
	StreamSpecification       *streamSpec           `json:"StreamSpecification,omitempty"`
	LatestStreamLabel         string                `json:"LatestStreamLabel,omitempty"`
	LatestStreamArn           string                `json:"LatestStreamArn,omitempty"`
	DeletionProtectionEnabled bool                  `json:"DeletionProtectionEnabled"`
}

func keySchema(pk KeyDef, sk *KeyDef) []keySchemaElement {
	ks := []keySchemaElement{{pk.Name, "HASH"}}
	if sk != nil {
		ks = append(ks, keySchemaElement{sk.Name, "RANGE"})
	}
	return ks
}

func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func (db *DB) describe(t *table, status string) tableDesc {
	m := t.meta
	d := tableDesc{
		TableName:                 m.Name,
		KeySchema:                 keySchema(m.PK, m.SK),
		TableStatus:               status,
		CreationDateTime:          epoch(m.Created),
		ProvisionedThroughput:     throughputDesc{ReadCapacityUnits: m.RCU, WriteCapacityUnits: m.WCU},
		TableSizeBytes:            t.primary.bytes,
		ItemCount:                 int64(t.primary.count),
		TableArn:                  db.tableARN(m.Name),
		TableId:                   m.ID,
		DeletionProtectionEnabled: m.Protected,
	}
	for _, a := range m.AttrDefs {
		d.AttributeDefinitions = append(d.AttributeDefinitions, attributeDefinition{a.Name, a.Type})
	}
	if m.Billing == "PAY_PER_REQUEST" {
		d.BillingModeSummary = &billingSummary{BillingMode: "PAY_PER_REQUEST", LastUpdateToPayPerRequestDateTime: epoch(m.BillingTime)}
	}
	for _, ix := range t.indexes {
		id := indexDesc{
			IndexName:      ix.meta.Name,
			KeySchema:      keySchema(ix.meta.PK, ix.meta.SK),
			Projection:     projectionJSON{ix.meta.Projection.Type, ix.meta.Projection.NonKey},
			IndexSizeBytes: ix.space.bytes,
			ItemCount:      int64(ix.space.count),
			IndexArn:       db.tableARN(m.Name) + "/index/" + ix.meta.Name,
		}
		if ix.meta.Local {
			d.LocalSecondaryIndexes = append(d.LocalSecondaryIndexes, id)
		} else {
			id.IndexStatus = "ACTIVE"
			id.ProvisionedThroughput = &throughputDesc{ReadCapacityUnits: ix.meta.RCU, WriteCapacityUnits: ix.meta.WCU}
			d.GlobalSecondaryIndexes = append(d.GlobalSecondaryIndexes, id)
		}
	}
	if m.StreamView != "" {
		d.StreamSpecification = &streamSpec{StreamEnabled: true, StreamViewType: m.StreamView}
	}
	if m.StreamARN != "" {
		d.LatestStreamArn = m.StreamARN
		if s := db.streams[m.StreamARN]; s != nil {
			d.LatestStreamLabel = s.Label
		}
	}
	return d
}

// ---- CreateTable

type indexInput struct {
	IndexName             string             `json:"IndexName"`
	KeySchema             []keySchemaElement `json:"KeySchema"`
	Projection            projectionJSON     `json:"Projection"`
	ProvisionedThroughput *throughput        `json:"ProvisionedThroughput"`
}

type createTableInput struct {
	TableName                 string                `json:"TableName"`
	AttributeDefinitions      []attributeDefinition `json:"AttributeDefinitions"`
	KeySchema                 []keySchemaElement    `json:"KeySchema"`
	BillingMode               string                `json:"BillingMode"`
	ProvisionedThroughput     *throughput           `json:"ProvisionedThroughput"`
	GlobalSecondaryIndexes    []indexInput          `json:"GlobalSecondaryIndexes"`
	LocalSecondaryIndexes     []indexInput          `json:"LocalSecondaryIndexes"`
	StreamSpecification       *streamSpec           `json:"StreamSpecification"`
	DeletionProtectionEnabled bool                  `json:"DeletionProtectionEnabled"`
	Tags                      []Tag                 `json:"Tags"`
}

var tableNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)

func checkTableName(name string) error {
	if !tableNameRE.MatchString(name) {
		return validation(fmt.Sprintf("1 validation error detected: Value '%s' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and length 3-255", name))
	}
	return nil
}

func parseKeySchema(ks []keySchemaElement, defs map[string]string, used map[string]bool, what string) (KeyDef, *KeyDef, error) {
	if len(ks) == 0 || len(ks) > 2 || ks[0].KeyType != "HASH" || (len(ks) == 2 && ks[1].KeyType != "RANGE") {
		return KeyDef{}, nil, validation("Invalid KeySchema: The first KeySchemaElement is not a HASH key type" + what)
	}
	var out []KeyDef
	for _, e := range ks {
		t, ok := defs[e.AttributeName]
		if !ok {
			return KeyDef{}, nil, validation("One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [" + e.AttributeName + "], AttributeDefinitions: [" + strings.Join(sortedKeys(defs), ", ") + "]")
		}
		used[e.AttributeName] = true
		out = append(out, KeyDef{e.AttributeName, t})
	}
	if len(out) == 2 {
		if out[0].Name == out[1].Name {
			return KeyDef{}, nil, validation("Both the Hash Key and the Range Key element in the KeySchema have the same name")
		}
		return out[0], &out[1], nil
	}
	return out[0], nil, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func checkView(v string) error {
	switch v {
	case "KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES":
		return nil
	}
	return validation("1 validation error detected: Value '" + v + "' at 'streamSpecification.streamViewType' failed to satisfy constraint: Member must satisfy enum value set: [NEW_IMAGE, NEW_AND_OLD_IMAGES, KEYS_ONLY, OLD_IMAGE]")
}

func parseIndex(in indexInput, defs map[string]string, used map[string]bool, local bool) (indexMeta, error) {
	pk, sk, err := parseKeySchema(in.KeySchema, defs, used, "")
	if err != nil {
		return indexMeta{}, err
	}
	im := indexMeta{Name: in.IndexName, PK: pk, SK: sk, Local: local, Projection: Projection{Type: in.Projection.ProjectionType, NonKey: in.Projection.NonKeyAttributes}}
	switch im.Projection.Type {
	case "ALL", "KEYS_ONLY":
		if len(im.Projection.NonKey) > 0 {
			return im, validation("One or more parameter values were invalid: ProjectionType is " + im.Projection.Type + ", but NonKeyAttributes is specified")
		}
	case "INCLUDE":
	case "":
		return im, validation("One or more parameter values were invalid: Unknown ProjectionType: null")
	default:
		return im, validation("One or more parameter values were invalid: Unknown ProjectionType: " + im.Projection.Type)
	}
	if in.ProvisionedThroughput != nil {
		im.RCU, im.WCU = in.ProvisionedThroughput.ReadCapacityUnits, in.ProvisionedThroughput.WriteCapacityUnits
	}
	return im, nil
}

func (db *DB) createTable(in createTableInput) (any, error) {
	if err := checkTableName(in.TableName); err != nil {
		return nil, err
	}
	defs := map[string]string{}
	for _, d := range in.AttributeDefinitions {
		switch d.AttributeType {
		case "S", "N", "B":
		default:
			return nil, validation("1 validation error detected: Value '" + d.AttributeType + "' at 'attributeDefinitions.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]")
		}
		defs[d.AttributeName] = d.AttributeType
	}
	used := map[string]bool{}
	pk, sk, err := parseKeySchema(in.KeySchema, defs, used, "")
	if err != nil {
		return nil, err
	}
	m := tableMeta{Name: in.TableName, ID: randomUUID(), Created: db.now().UTC(), PK: pk, SK: sk, Protected: in.DeletionProtectionEnabled, Tags: in.Tags}
	switch in.BillingMode {
	case "PAY_PER_REQUEST":
		if in.ProvisionedThroughput != nil && (in.ProvisionedThroughput.ReadCapacityUnits > 0 || in.ProvisionedThroughput.WriteCapacityUnits > 0) {
			return nil, validation("One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
		}
		m.Billing, m.BillingTime = "PAY_PER_REQUEST", m.Created
	case "", "PROVISIONED":
		if in.ProvisionedThroughput == nil {
			return nil, validation("One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED")
		}
		m.Billing, m.RCU, m.WCU = "PROVISIONED", in.ProvisionedThroughput.ReadCapacityUnits, in.ProvisionedThroughput.WriteCapacityUnits
	default:
		return nil, validation("1 validation error detected: Value '" + in.BillingMode + "' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]")
	}
	names := map[string]bool{}
	for _, g := range in.GlobalSecondaryIndexes {
		im, err := parseIndex(g, defs, used, false)
		if err != nil {
			return nil, err
		}
		if m.Billing == "PROVISIONED" && g.ProvisionedThroughput == nil {
			return nil, validation("One or more parameter values were invalid: ProvisionedThroughput must be specified for index: " + g.IndexName)
		}
		if names[im.Name] {
			return nil, validation("One or more parameter values were invalid: Duplicate index name: " + im.Name)
		}
		names[im.Name] = true
		m.Indexes = append(m.Indexes, im)
	}
	for _, l := range in.LocalSecondaryIndexes {
		im, err := parseIndex(l, defs, used, true)
		if err != nil {
			return nil, err
		}
		if im.PK.Name != pk.Name || im.SK == nil {
			return nil, validation("One or more parameter values were invalid: Index KeySchema does not have a range key for index: " + im.Name)
		}
		if sk == nil {
			return nil, validation("One or more parameter values were invalid: Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex")
		}
		if names[im.Name] {
			return nil, validation("One or more parameter values were invalid: Duplicate index name: " + im.Name)
		}
		names[im.Name] = true
		m.Indexes = append(m.Indexes, im)
	}
	if len(used) != len(defs) {
		return nil, validation("One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions")
	}
	for _, n := range sortedKeys(defs) {
		m.AttrDefs = append(m.AttrDefs, KeyDef{n, defs[n]})
	}
	if ss := in.StreamSpecification; ss != nil && ss.StreamEnabled {
		if err := checkView(ss.StreamViewType); err != nil {
			return nil, err
		}
		m.StreamView = ss.StreamViewType
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.tables[in.TableName] != nil {
		return nil, inUse("Table already exists: " + in.TableName)
	}
	t := newTable(m)
	var s *stream
	if m.StreamView != "" {
		s = db.newStream(t, m.StreamView)
		t.meta.StreamARN = s.ARN
	}
	if s != nil {
		if err := db.j.Append(logEntry{Op: "stream", Stream: s}); err != nil {
			return nil, err
		}
	}
	if err := db.j.Append(logEntry{Op: "table", Table: &t.meta}); err != nil {
		return nil, err
	}
	db.tables[m.Name] = t
	return map[string]any{"TableDescription": db.describe(t, "ACTIVE")}, nil
}

func randomUUID() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

type tableNameInput struct {
	TableName string `json:"TableName"`
}

func (db *DB) table(name string) (*table, error) {
	if name == "" {
		return nil, validation("1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null")
	}
	t := db.tables[name]
	if t == nil {
		return nil, notFound("Requested resource not found: Table: " + name + " not found")
	}
	return t, nil
}

func (db *DB) describeTable(in tableNameInput) (any, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	t, err := db.table(in.TableName)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Table": db.describe(t, "ACTIVE")}, nil
}

func (db *DB) deleteTable(in tableNameInput) (any, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	t, err := db.table(in.TableName)
	if err != nil {
		return nil, err
	}
	if t.meta.Protected {
		return nil, validation("Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first.")
	}
	d := db.describe(t, "DELETING")
	if s := db.streams[t.meta.StreamARN]; s != nil && !s.Disabled {
		cp := *s
		cp.Disabled = true
		if err := db.j.Append(logEntry{Op: "stream", Stream: &cp}); err != nil {
			return nil, err
		}
		s.Disabled = true
	}
	if err := db.j.Append(logEntry{Op: "drop", Name: t.meta.Name}); err != nil {
		return nil, err
	}
	delete(db.tables, t.meta.Name)
	return map[string]any{"TableDescription": d}, nil
}

type listTablesInput struct {
	ExclusiveStartTableName string `json:"ExclusiveStartTableName"`
	Limit                   *int   `json:"Limit"`
}

func (db *DB) listTables(in listTablesInput) (any, error) {
	limit := 100
	if in.Limit != nil {
		switch limit = *in.Limit; {
		case limit < 1:
			return nil, validation(fmt.Sprintf("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1", limit))
		case limit > 100:
			return nil, validation(fmt.Sprintf("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100", limit))
		}
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	names := []string{}
	var last string
	for _, n := range db.tableNames() {
		if n <= in.ExclusiveStartTableName {
			continue
		}
		if len(names) == limit {
			last = names[len(names)-1]
			break
		}
		names = append(names, n)
	}
	out := map[string]any{"TableNames": names}
	if last != "" {
		out["LastEvaluatedTableName"] = last
	}
	return out, nil
}

type indexUpdate struct {
	Create *struct {
		indexInput
	} `json:"Create"`
	Delete *struct {
		IndexName string `json:"IndexName"`
	} `json:"Delete"`
	Update *struct {
		IndexName             string      `json:"IndexName"`
		ProvisionedThroughput *throughput `json:"ProvisionedThroughput"`
	} `json:"Update"`
}

type updateTableInput struct {
	TableName                   string                `json:"TableName"`
	AttributeDefinitions        []attributeDefinition `json:"AttributeDefinitions"`
	BillingMode                 string                `json:"BillingMode"`
	ProvisionedThroughput       *throughput           `json:"ProvisionedThroughput"`
	StreamSpecification         *streamSpec           `json:"StreamSpecification"`
	GlobalSecondaryIndexUpdates []indexUpdate         `json:"GlobalSecondaryIndexUpdates"`
	DeletionProtectionEnabled   *bool                 `json:"DeletionProtectionEnabled"`
}

func (db *DB) updateTable(in updateTableInput) (any, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	t, err := db.table(in.TableName)
	if err != nil {
		return nil, err
	}
	m := t.meta
	m.Indexes = append([]indexMeta(nil), m.Indexes...)
	changed := false
	if in.BillingMode != "" && in.BillingMode != m.Billing {
		m.Billing, changed = in.BillingMode, true
		if m.Billing == "PAY_PER_REQUEST" {
			m.BillingTime, m.RCU, m.WCU = db.now().UTC(), 0, 0
		}
	}
	if p := in.ProvisionedThroughput; p != nil {
		m.RCU, m.WCU, changed = p.ReadCapacityUnits, p.WriteCapacityUnits, true
	}
	if in.DeletionProtectionEnabled != nil {
		m.Protected, changed = *in.DeletionProtectionEnabled, true
	}
	var newStream *stream
	var disable *stream
	if ss := in.StreamSpecification; ss != nil {
		switch {
		case ss.StreamEnabled && m.StreamView != "":
			return nil, validation("Table already has an enabled stream: " + m.StreamARN)
		case ss.StreamEnabled:
			if err := checkView(ss.StreamViewType); err != nil {
				return nil, err
			}
			m.StreamView, changed = ss.StreamViewType, true
			newStream = db.newStream(t, ss.StreamViewType)
			m.StreamARN = newStream.ARN
		case m.StreamView == "":
			return nil, validation("Table already has no stream enabled")
		default:
			m.StreamView, changed = "", true
			if s := db.streams[m.StreamARN]; s != nil {
				cp := *s
				cp.Disabled = true
				disable = &cp
			}
		}
	}
	defs := map[string]string{}
	for _, d := range m.AttrDefs {
		defs[d.Name] = d.Type
	}
	for _, d := range in.AttributeDefinitions {
		defs[d.AttributeName] = d.AttributeType
	}
	for _, u := range in.GlobalSecondaryIndexUpdates {
		switch {
		case u.Create != nil:
			im, err := parseIndex(u.Create.indexInput, defs, map[string]bool{}, false)
			if err != nil {
				return nil, err
			}
			for _, x := range m.Indexes {
				if x.Name == im.Name {
					return nil, validation("Attempting to create an index which already exists")
				}
			}
			m.Indexes, changed = append(m.Indexes, im), true
		case u.Delete != nil:
			found := false
			for i, x := range m.Indexes {
				if x.Name == u.Delete.IndexName && !x.Local {
					m.Indexes, found, changed = append(m.Indexes[:i:i], m.Indexes[i+1:]...), true, true
					break
				}
			}
			if !found {
				return nil, notFound("Requested resource not found: Index: " + u.Delete.IndexName + " not found")
			}
		case u.Update != nil:
			changed = true
		}
	}
	used := map[string]bool{m.PK.Name: true}
	if m.SK != nil {
		used[m.SK.Name] = true
	}
	for _, x := range m.Indexes {
		used[x.PK.Name] = true
		if x.SK != nil {
			used[x.SK.Name] = true
		}
	}
	m.AttrDefs = nil
	for _, n := range sortedKeys(defs) {
		if used[n] {
			m.AttrDefs = append(m.AttrDefs, KeyDef{n, defs[n]})
		}
	}
	if !changed {
		return nil, validation("At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required")
	}
	if newStream != nil {
		if err := db.j.Append(logEntry{Op: "stream", Stream: newStream}); err != nil {
			return nil, err
		}
	}
	if disable != nil {
		if err := db.j.Append(logEntry{Op: "stream", Stream: disable}); err != nil {
			return nil, err
		}
		db.streams[disable.ARN].Disabled = true
	}
	if err := db.j.Append(logEntry{Op: "table", Table: &m}); err != nil {
		return nil, err
	}
	db.rebuild(t, m)
	return map[string]any{"TableDescription": db.describe(t, "ACTIVE")}, nil
}

type ttlSpec struct {
	AttributeName string `json:"AttributeName"`
	Enabled       bool   `json:"Enabled"`
}

type updateTTLInput struct {
	TableName               string  `json:"TableName"`
	TimeToLiveSpecification ttlSpec `json:"TimeToLiveSpecification"`
}

func (db *DB) updateTTL(in updateTTLInput) (any, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	t, err := db.table(in.TableName)
	if err != nil {
		return nil, err
	}
	spec := in.TimeToLiveSpecification
	if spec.AttributeName == "" {
		return nil, validation("1 validation error detected: Value null at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must not be null")
	}
	if spec.Enabled == t.meta.TTLEnabled {
		if spec.Enabled {
			return nil, validation("TimeToLive is already enabled")
		}
		return nil, validation("TimeToLive is already disabled")
	}
	m := t.meta
	m.TTLAttr, m.TTLEnabled = spec.AttributeName, spec.Enabled
	if err := db.j.Append(logEntry{Op: "table", Table: &m}); err != nil {
		return nil, err
	}
	t.meta = m
	return map[string]any{"TimeToLiveSpecification": spec}, nil
}

func (db *DB) describeTTL(in tableNameInput) (any, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	t, err := db.table(in.TableName)
	if err != nil {
		return nil, err
	}
	d := map[string]any{"TimeToLiveStatus": "DISABLED"}
	if t.meta.TTLEnabled {
		d = map[string]any{"TimeToLiveStatus": "ENABLED", "AttributeName": t.meta.TTLAttr}
	}
	return map[string]any{"TimeToLiveDescription": d}, nil
}

// ---- item writes

type putInput struct {
	exprParams
	TableName                           string `json:"TableName"`
	Item                                Item   `json:"Item"`
	ConditionExpression                 string `json:"ConditionExpression"`
	ReturnValues                        string `json:"ReturnValues"`
	ReturnValuesOnConditionCheckFailure string `json:"ReturnValuesOnConditionCheckFailure"`
	ReturnConsumedCapacity              string `json:"ReturnConsumedCapacity"`
	Expected                            any    `json:"Expected"`
}

// preparedWrite is a validated write, ready to be checked and applied
// under the lock.
type preparedWrite struct {
	t        *table
	key      Item
	cond     cond
	put      Item           // Put
	update   []updateAction // Update (nil actions: just ensure the item)
	isUpdate bool
	del      bool
	check    bool   // ConditionCheck
	failMode string // ReturnValuesOnConditionCheckFailure
}

func legacy(name string, v any) error {
	if v != nil {
		return validation("The legacy parameter " + name + " is not supported by the nanopipe local environment; use expression parameters")
	}
	return nil
}

func (db *DB) preparePut(t *table, in putInput) (*preparedWrite, error) {
	if err := legacy("Expected", in.Expected); err != nil {
		return nil, err
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	if in.Item == nil {
		return nil, validation("1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must not be null")
	}
	if err := t.checkItem(in.Item); err != nil {
		return nil, err
	}
	w := &preparedWrite{t: t, put: in.Item, key: t.keyOf(in.Item), failMode: in.ReturnValuesOnConditionCheckFailure}
	u := newUsage()
	if in.ConditionExpression != "" {
		c, err := parseCondition("ConditionExpression", in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues, u)
		if err != nil {
			return nil, err
		}
		w.cond = c
	}
	return w, u.check(in.ExpressionAttributeNames, in.ExpressionAttributeValues)
}

// evaluate checks the write's condition against the current item and
// computes the new one. It returns the old item and the new (nil for a
// delete or a check).
func (w *preparedWrite) evaluate() (old, new Item, touched []string, err error) {
	old = w.t.get(w.key)
	if w.cond != nil {
		probe := old
		if probe == nil {
			probe = Item{}
		}
		ok, err := evalCond(probe, w.cond)
		if err != nil {
			return old, nil, nil, err
		}
		if !ok {
			var item Item
			if w.failMode == "ALL_OLD" {
				item = old
			}
			return old, nil, nil, conditionFailed(item)
		}
	}
	switch {
	case w.put != nil:
		return old, w.put, nil, nil
	case w.isUpdate:
		base := old
		if base == nil {
			base = w.key.clone()
		}
		n, touched, err := applyUpdate(base, w.update, w.t.keyNames())
		if err != nil {
			return old, nil, nil, err
		}
		if err := w.t.checkItem(n); err != nil {
			return old, nil, nil, err
		}
		return old, n, touched, nil
	}
	return old, nil, nil, nil
}

func (db *DB) putItem(in putInput) (any, error) {
	switch in.ReturnValues {
	case "", "NONE", "ALL_OLD":
	default:
		return nil, validation("ReturnValues can only be ALL_OLD or NONE")
	}
	t, old, n, _, err := db.writeOne(in.TableName, func(t *table) (*preparedWrite, error) { return db.preparePut(t, in) })
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if in.ReturnValues == "ALL_OLD" && old != nil {
		out["Attributes"] = old
	}
	if c := capacity(in.ReturnConsumedCapacity, t.meta.Name, writeUnits(n, old)); c != nil {
		out["ConsumedCapacity"] = c
	}
	return out, nil
}

// writeOne applies a single-item write under the lock: it finds the
// table, prepares the write, evaluates its condition and expressions and
// commits the change (a delete of a missing item commits nothing).
func (db *DB) writeOne(name string, prepare func(*table) (*preparedWrite, error)) (t *table, old, n Item, touched []string, err error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if t, err = db.table(name); err != nil {
		return nil, nil, nil, nil, err
	}
	w, err := prepare(t)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if old, n, touched, err = w.evaluate(); err != nil {
		return nil, nil, nil, nil, err
	}
	if old != nil || n != nil {
		if err := db.commit([]change{{t: t, old: old, new: n}}); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	return t, old, n, touched, nil
}

func writeUnits(items ...Item) float64 {
	n := 1
	for _, it := range items {
		if it != nil {
			n = max(n, (it.size()+1023)/1024)
		}
	}
	return float64(n)
}

type keyInput struct {
	exprParams
	TableName                           string   `json:"TableName"`
	Key                                 Item     `json:"Key"`
	ConditionExpression                 string   `json:"ConditionExpression"`
	UpdateExpression                    string   `json:"UpdateExpression"`
	ProjectionExpression                string   `json:"ProjectionExpression"`
	ConsistentRead                      bool     `json:"ConsistentRead"`
	ReturnValues                        string   `json:"ReturnValues"`
	ReturnValuesOnConditionCheckFailure string   `json:"ReturnValuesOnConditionCheckFailure"`
	ReturnConsumedCapacity              string   `json:"ReturnConsumedCapacity"`
	Expected                            any      `json:"Expected"`
	AttributeUpdates                    any      `json:"AttributeUpdates"`
	AttributesToGet                     []string `json:"AttributesToGet"`
}

func (db *DB) prepareKeyed(t *table, in keyInput, kind string) (*preparedWrite, error) {
	if err := legacy("Expected", in.Expected); err != nil {
		return nil, err
	}
	if err := legacy("AttributeUpdates", in.AttributeUpdates); err != nil {
		return nil, err
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	if in.Key == nil {
		return nil, validation("1 validation error detected: Value null at 'key' failed to satisfy constraint: Member must not be null")
	}
	if err := t.checkKey(in.Key); err != nil {
		return nil, err
	}
	w := &preparedWrite{t: t, key: in.Key, failMode: in.ReturnValuesOnConditionCheckFailure}
	u := newUsage()
	if in.ConditionExpression != "" {
		c, err := parseCondition("ConditionExpression", in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues, u)
		if err != nil {
			return nil, err
		}
		w.cond = c
	}
	switch kind {
	case "update":
		w.isUpdate = true
		if in.UpdateExpression != "" {
			acts, err := parseUpdate(in.UpdateExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues, u)
			if err != nil {
				return nil, err
			}
			w.update = acts
		}
	case "delete":
		w.del = true
	case "check":
		w.check = true
		if w.cond == nil {
			return nil, validation("1 validation error detected: Value null at 'conditionExpression' failed to satisfy constraint: Member must not be null")
		}
	}
	return w, u.check(in.ExpressionAttributeNames, in.ExpressionAttributeValues)
}

func (db *DB) updateItem(in keyInput) (any, error) {
	switch in.ReturnValues {
	case "", "NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW":
	default:
		return nil, validation("1 validation error detected: Value '" + in.ReturnValues + "' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]")
	}
	t, old, n, touched, err := db.writeOne(in.TableName, func(t *table) (*preparedWrite, error) { return db.prepareKeyed(t, in, "update") })
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	pick := func(src Item) Item {
		r := Item{}
		for _, k := range touched {
			if v := src[k]; v != nil {
				r[k] = v
			}
		}
		return r
	}
	switch in.ReturnValues {
	case "ALL_OLD":
		if old != nil {
			out["Attributes"] = old
		}
	case "ALL_NEW":
		out["Attributes"] = n
	case "UPDATED_OLD":
		if old != nil {
			if r := pick(old); len(r) > 0 {
				out["Attributes"] = r
			}
		}
	case "UPDATED_NEW":
		if r := pick(n); len(r) > 0 {
			out["Attributes"] = r
		}
	}
	if c := capacity(in.ReturnConsumedCapacity, t.meta.Name, writeUnits(n, old)); c != nil {
		out["ConsumedCapacity"] = c
	}
	return out, nil
}

func (db *DB) deleteItem(in keyInput) (any, error) {
	switch in.ReturnValues {
	case "", "NONE", "ALL_OLD":
	default:
		return nil, validation("ReturnValues can only be ALL_OLD or NONE")
	}
	t, old, _, _, err := db.writeOne(in.TableName, func(t *table) (*preparedWrite, error) { return db.prepareKeyed(t, in, "delete") })
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if in.ReturnValues == "ALL_OLD" && old != nil {
		out["Attributes"] = old
	}
	if c := capacity(in.ReturnConsumedCapacity, t.meta.Name, writeUnits(old)); c != nil {
		out["ConsumedCapacity"] = c
	}
	return out, nil
}

// ---- reads

func projection(expr string, attrs []string, names map[string]string, u *usage) ([]docPath, error) {
	if expr != "" && attrs != nil {
		return nil, validation("Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}")
	}
	if expr != "" {
		return parseProjection(expr, names, u)
	}
	if attrs != nil {
		var out []docPath
		for _, a := range attrs {
			out = append(out, docPath{{name: a}})
		}
		return out, nil
	}
	return nil, nil
}

func (db *DB) getItem(in keyInput) (any, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	u := newUsage()
	proj, err := projection(in.ProjectionExpression, in.AttributesToGet, in.ExpressionAttributeNames, u)
	if err != nil {
		return nil, err
	}
	if err := u.check(in.ExpressionAttributeNames, in.ExpressionAttributeValues); err != nil {
		return nil, err
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	t, err := db.table(in.TableName)
	if err != nil {
		return nil, err
	}
	if err := t.checkKey(in.Key); err != nil {
		return nil, err
	}
	out := map[string]any{}
	if it := t.get(in.Key); it != nil {
		out["Item"] = project(it, proj)
	}
	if c := capacity(in.ReturnConsumedCapacity, t.meta.Name, 1); c != nil {
		out["ConsumedCapacity"] = c
	}
	return out, nil
}

type queryInput struct {
	exprParams
	TableName              string   `json:"TableName"`
	IndexName              string   `json:"IndexName"`
	KeyConditionExpression string   `json:"KeyConditionExpression"`
	FilterExpression       string   `json:"FilterExpression"`
	ProjectionExpression   string   `json:"ProjectionExpression"`
	Select                 string   `json:"Select"`
	Limit                  *int     `json:"Limit"`
	ExclusiveStartKey      Item     `json:"ExclusiveStartKey"`
	ScanIndexForward       *bool    `json:"ScanIndexForward"`
	ConsistentRead         bool     `json:"ConsistentRead"`
	Segment                *int     `json:"Segment"`
	TotalSegments          *int     `json:"TotalSegments"`
	ReturnConsumedCapacity string   `json:"ReturnConsumedCapacity"`
	AttributesToGet        []string `json:"AttributesToGet"`
	KeyConditions          any      `json:"KeyConditions"`
	QueryFilter            any      `json:"QueryFilter"`
	ScanFilter             any      `json:"ScanFilter"`
	ConditionalOperator    any      `json:"ConditionalOperator"`
}

// keyCond is a query's key condition: the partition key value and an
// optional sort key condition.
type keyCond struct {
	pk     *Value
	skOp   string // "", =, <, <=, >, >=, BETWEEN, begins_with
	a, b   *Value
	skName string
}

func flattenAnd(c cond, out *[]cond) bool {
	switch c := c.(type) {
	case andCond:
		return flattenAnd(c.l, out) && flattenAnd(c.r, out)
	case orCond, notCond:
		return false
	}
	*out = append(*out, c)
	return true
}

func parseKeyCond(expr string, s *space, names map[string]string, values map[string]*Value, u *usage) (keyCond, error) {
	var kc keyCond
	if expr == "" {
		return kc, validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
	}
	c, err := parseCondition("KeyConditionExpression", expr, names, values, u)
	if err != nil {
		return kc, err
	}
	var parts []cond
	if !flattenAnd(c, &parts) {
		return kc, validation("Invalid operator used in KeyConditionExpression: OR")
	}
	if len(parts) > 2 {
		return kc, validation("Conditions can be of length 1 or 2 only")
	}
	single := func(o operand) (string, bool) {
		p, ok := o.(pathOp)
		if !ok || len(p.p) != 1 || p.p[0].isIdx {
			return "", false
		}
		return p.p[0].name, true
	}
	val := func(o operand) *Value {
		if v, ok := o.(valueOp); ok {
			return v.v
		}
		return nil
	}
	for _, part := range parts {
		switch p := part.(type) {
		case cmpCond:
			name, ok := single(p.a)
			v := val(p.b)
			if !ok || v == nil {
				return kc, validation("Invalid KeyConditionExpression: The left operand must be an attribute name and the right operand a value")
			}
			if name == s.pk {
				if p.op != "=" {
					return kc, validation("Query key condition not supported")
				}
				if kc.pk != nil {
					return kc, validation("KeyConditionExpressions must only contain one condition per key")
				}
				kc.pk = v
			} else if name == s.sk {
				if p.op == "<>" {
					return kc, validation("Unsupported operator on KeyConditionExpression: operator: <>")
				}
				if kc.skOp != "" {
					return kc, validation("KeyConditionExpressions must only contain one condition per key")
				}
				kc.skOp, kc.a = p.op, v
			} else {
				return kc, validation("Query condition missed key schema element: " + s.pk)
			}
		case betweenCond:
			name, ok := single(p.x)
			lo, hi := val(p.lo), val(p.hi)
			if !ok || name != s.sk || lo == nil || hi == nil {
				return kc, validation("Query condition missed key schema element")
			}
			if n, ok := compare(lo, hi); ok && n > 0 {
				return kc, validation("Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower operand: " + show(lo) + ", upper operand: " + show(hi))
			}
			kc.skOp, kc.a, kc.b = "BETWEEN", lo, hi
		case fnCond:
			if p.name != "begins_with" || len(p.p) != 1 || p.p[0].name != s.sk {
				return kc, validation("Invalid operator used in KeyConditionExpression: " + p.name)
			}
			v := val(p.arg)
			if v == nil {
				return kc, validation("Invalid KeyConditionExpression")
			}
			kc.skOp, kc.a = "begins_with", v
		default:
			return kc, validation("Invalid operator used in KeyConditionExpression")
		}
	}
	if kc.pk == nil {
		return kc, validation("Query condition missed key schema element: " + s.pk)
	}
	kc.skName = s.sk
	return kc, nil
}

func (kc keyCond) typeCheck(t *table, ix *index) error {
	pkType, skType := t.meta.PK.Type, ""
	if t.meta.SK != nil {
		skType = t.meta.SK.Type
	}
	if ix != nil {
		pkType = ix.meta.PK.Type
		skType = ""
		if ix.meta.SK != nil {
			skType = ix.meta.SK.Type
		}
	}
	if kc.pk.K.String() != pkType {
		return validation("One or more parameter values were invalid: Condition parameter type does not match schema type")
	}
	for _, v := range []*Value{kc.a, kc.b} {
		if v != nil && v.K.String() != skType {
			return validation("One or more parameter values were invalid: Condition parameter type does not match schema type")
		}
	}
	if kc.skOp == "begins_with" && kc.a.K == KN {
		return validation("Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N")
	}
	return nil
}

// matchSK reports whether a sort key satisfies the condition, and whether
// any later key (in ascending order) still can.
func (kc keyCond) matchSK(sk *Value) (ok, more bool) {
	if kc.skOp == "" {
		return true, true
	}
	n, _ := compare(sk, kc.a)
	switch kc.skOp {
	case "=":
		return n == 0, n <= 0
	case "<":
		return n < 0, n < 0
	case "<=":
		return n <= 0, n <= 0
	case ">":
		return n > 0, true
	case ">=":
		return n >= 0, true
	case "BETWEEN":
		m, _ := compare(sk, kc.b)
		return n >= 0 && m <= 0, m <= 0
	case "begins_with":
		ok := strings.HasPrefix(sk.Str, kc.a.Str)
		return ok, ok || sk.Str < kc.a.Str
	}
	return false, false
}

const pageBytes = 1 << 20

type readResult struct {
	Items            []Item    `json:"Items,omitempty"`
	Count            int       `json:"Count"`
	ScannedCount     int       `json:"ScannedCount"`
	LastEvaluatedKey Item      `json:"LastEvaluatedKey,omitempty"`
	ConsumedCapacity *consumed `json:"ConsumedCapacity,omitempty"`
	countOnly        bool
}

// MarshalJSON writes "Items": [] for a page with no items, as DynamoDB
// does (SDKs then decode an empty list, not a missing one), and no Items
// for Select COUNT.
func (r readResult) MarshalJSON() ([]byte, error) {
	type plain readResult
	if len(r.Items) > 0 || r.countOnly {
		return json.Marshal(plain(r))
	}
	return json.Marshal(struct {
		Items []Item `json:"Items"`
		plain
	}{[]Item{}, plain(r)})
}

type readPlan struct {
	t      *table
	ix     *index
	filter cond
	proj   []docPath
	count  bool
	limit  int
}

func (db *DB) plan(in queryInput, u *usage) (*readPlan, error) {
	for name, v := range map[string]any{"KeyConditions": in.KeyConditions, "QueryFilter": in.QueryFilter, "ScanFilter": in.ScanFilter, "ConditionalOperator": in.ConditionalOperator} {
		if err := legacy(name, v); err != nil {
			return nil, err
		}
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	t, err := db.table(in.TableName)
	if err != nil {
		return nil, err
	}
	p := &readPlan{t: t}
	if in.IndexName != "" {
		p.ix = t.indexNamed(in.IndexName)
		if p.ix == nil {
			return nil, validation("The table does not have the specified index: " + in.IndexName)
		}
		if in.ConsistentRead && !p.ix.meta.Local {
			return nil, validation("Consistent reads are not supported on global secondary indexes")
		}
	}
	if in.Limit != nil {
		if *in.Limit < 1 {
			return nil, validation("1 validation error detected: Value '" + fmt.Sprint(*in.Limit) + "' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1")
		}
		p.limit = *in.Limit
	}
	if in.FilterExpression != "" {
		if p.filter, err = parseCondition("FilterExpression", in.FilterExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues, u); err != nil {
			return nil, err
		}
	}
	if p.proj, err = projection(in.ProjectionExpression, in.AttributesToGet, in.ExpressionAttributeNames, u); err != nil {
		return nil, err
	}
	switch in.Select {
	case "", "ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES":
		if p.proj != nil && in.Select != "" {
			return nil, validation("Cannot specify the AttributesToGet when choosing to get ALL_ATTRIBUTES")
		}
	case "COUNT":
		if p.proj != nil {
			return nil, validation("Cannot specify the ProjectionExpression when choosing to get only the COUNT")
		}
		p.count = true
	case "SPECIFIC_ATTRIBUTES":
		if p.proj == nil {
			return nil, validation("Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES")
		}
	default:
		return nil, validation("1 validation error detected: Value '" + in.Select + "' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]")
	}
	return p, nil
}

// visit evaluates one row; it returns false when the page is full.
func (p *readPlan) visit(res *readResult, r *row, bytes *int) (bool, error) {
	res.ScannedCount++
	item := p.t.projectIndex(p.ix, r.item)
	*bytes += item.size()
	keep := true
	if p.filter != nil {
		ok, err := evalCond(item, p.filter)
		if err != nil {
			return false, err
		}
		keep = ok
	}
	if keep {
		res.Count++
		if !p.count {
			res.Items = append(res.Items, project(item, p.proj))
		}
	}
	if (p.limit > 0 && res.ScannedCount >= p.limit) || *bytes >= pageBytes {
		res.LastEvaluatedKey = p.t.lastKey(p.ix, r)
		return false, nil
	}
	return true, nil
}

func (db *DB) query(in queryInput) (any, error) {
	u := newUsage()
	db.mu.RLock()
	defer db.mu.RUnlock()
	p, err := db.plan(in, u)
	if err != nil {
		return nil, err
	}
	s := p.t.primary
	if p.ix != nil {
		s = p.ix.space
	}
	kc, err := parseKeyCond(in.KeyConditionExpression, s, in.ExpressionAttributeNames, in.ExpressionAttributeValues, u)
	if err != nil {
		return nil, err
	}
	if err := u.check(in.ExpressionAttributeNames, in.ExpressionAttributeValues); err != nil {
		return nil, err
	}
	if err := kc.typeCheck(p.t, p.ix); err != nil {
		return nil, err
	}
	if p.filter != nil {
		// A query's filter may not test the key it queries by.
		for _, name := range condAttrs(p.filter) {
			if name == s.pk || name == s.sk {
				return nil, validation("Filter Expression can only contain non-primary key attributes: Primary key attribute: " + name)
			}
		}
	}
	start, err := p.t.startRow(s, p.ix, in.ExclusiveStartKey)
	if err != nil {
		return nil, err
	}
	if start != nil && !equal(start.pk, kc.pk) {
		return nil, validation("The provided starting key is invalid: The provided starting key does not match the range key predicate")
	}
	forward := in.ScanIndexForward == nil || *in.ScanIndexForward
	res := readResult{countOnly: p.count}
	bytes := 0
	if pt := s.parts[encKey(kc.pk)]; pt != nil {
		rows := pt.rows
		if forward {
			i := 0
			if start != nil {
				i = sortSearch(rows, start, true)
			} else if kc.skOp != "" && kc.skOp != "<" && kc.skOp != "<=" {
				lo := &row{sk: kc.a}
				i = sortSearch(rows, lo, false)
			}
			for ; i < len(rows); i++ {
				ok, more := kc.matchSK(rows[i].sk)
				if !more {
					break
				}
				if !ok {
					continue
				}
				cont, err := p.visit(&res, rows[i], &bytes)
				if err != nil {
					return nil, err
				}
				if !cont {
					break
				}
			}
		} else {
			i := len(rows) - 1
			if start != nil {
				i = sortSearch(rows, start, false) - 1
			}
			for ; i >= 0; i-- {
				ok, _ := kc.matchSK(rows[i].sk)
				if !ok {
					continue
				}
				cont, err := p.visit(&res, rows[i], &bytes)
				if err != nil {
					return nil, err
				}
				if !cont {
					break
				}
			}
		}
	}
	if res.Items == nil && !p.count {
		res.Items = []Item{}
	}
	res.ConsumedCapacity = capacity(in.ReturnConsumedCapacity, p.t.meta.Name, float64(max(1, (bytes+4095)/4096)))
	return res, nil
}

// sortSearch returns the index of the first row after key (after=true) or
// at or after key, in a partition's order. A key with a nil tkey compares
// by sort key alone.
func sortSearch(rows []*row, key *row, after bool) int {
	return sort.Search(len(rows), func(i int) bool {
		r := rows[i]
		if key.sk != nil && r.sk != nil {
			if n, _ := compare(r.sk, key.sk); n != 0 {
				return n > 0
			}
		}
		if key.tkey == "" {
			return true
		}
		if after {
			return r.tkey > key.tkey
		}
		return r.tkey >= key.tkey
	})
}

func (db *DB) scan(in queryInput) (any, error) {
	u := newUsage()
	db.mu.RLock()
	defer db.mu.RUnlock()
	p, err := db.plan(in, u)
	if err != nil {
		return nil, err
	}
	if err := u.check(in.ExpressionAttributeNames, in.ExpressionAttributeValues); err != nil {
		return nil, err
	}
	seg, total := 0, 1
	if in.Segment != nil || in.TotalSegments != nil {
		if in.Segment == nil || in.TotalSegments == nil {
			return nil, validation("The TotalSegments parameter is required but was not present in the request when Segment parameter is present")
		}
		seg, total = *in.Segment, *in.TotalSegments
		if total < 1 || total > 1000000 || seg < 0 || seg >= total {
			return nil, validation("The Segment parameter is zero-based and must be less than parameter TotalSegments")
		}
	}
	s := p.t.primary
	if p.ix != nil {
		s = p.ix.space
	}
	start, err := p.t.startRow(s, p.ix, in.ExclusiveStartKey)
	if err != nil {
		return nil, err
	}
	parts := s.ordered()
	pi := 0
	var startEnc string
	if start != nil {
		startEnc = encKey(start.pk)
		h := hash32(startEnc)
		pi = sort.Search(len(parts), func(i int) bool {
			return parts[i].hash > h || (parts[i].hash == h && parts[i].enc >= startEnc)
		})
	}
	res := readResult{countOnly: p.count}
	bytes := 0
outer:
	for ; pi < len(parts); pi++ {
		pt := parts[pi]
		if total > 1 && int(pt.hash%uint32(total)) != seg {
			continue
		}
		i := 0
		if start != nil && pt.enc == startEnc {
			i = sortSearch(pt.rows, start, true)
		}
		for ; i < len(pt.rows); i++ {
			cont, err := p.visit(&res, pt.rows[i], &bytes)
			if err != nil {
				return nil, err
			}
			if !cont {
				break outer
			}
		}
	}
	if res.Items == nil && !p.count {
		res.Items = []Item{}
	}
	res.ConsumedCapacity = capacity(in.ReturnConsumedCapacity, p.t.meta.Name, float64(max(1, (bytes+4095)/4096)))
	return res, nil
}

// ---- batches

type batchWriteInput struct {
	RequestItems map[string][]struct {
		PutRequest *struct {
			Item Item `json:"Item"`
		} `json:"PutRequest"`
		DeleteRequest *struct {
			Key Item `json:"Key"`
		} `json:"DeleteRequest"`
	} `json:"RequestItems"`
	ReturnConsumedCapacity string `json:"ReturnConsumedCapacity"`
}

func (db *DB) batchWrite(in batchWriteInput) (any, error) {
	n := 0
	for _, rs := range in.RequestItems {
		n += len(rs)
	}
	if n == 0 {
		return nil, validation("1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if n > 25 {
		return nil, validation("1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]")
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	var cs []change
	seen := map[string]bool{}
	var caps []*consumed
	for _, name := range sortedKeys(in.RequestItems) {
		t, err := db.table(name)
		if err != nil {
			return nil, err
		}
		for _, r := range in.RequestItems[name] {
			var key Item
			switch {
			case r.PutRequest != nil && r.DeleteRequest == nil:
				if err := t.checkItem(r.PutRequest.Item); err != nil {
					return nil, err
				}
				key = t.keyOf(r.PutRequest.Item)
			case r.DeleteRequest != nil && r.PutRequest == nil:
				if err := t.checkKey(r.DeleteRequest.Key); err != nil {
					return nil, err
				}
				key = r.DeleteRequest.Key
			default:
				return nil, validation("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes")
			}
			id := name + "\x02" + t.tkey(key)
			if seen[id] {
				return nil, validation("Provided list of item keys contains duplicates")
			}
			seen[id] = true
			old := t.get(key)
			if r.PutRequest != nil {
				cs = append(cs, change{t: t, old: old, new: r.PutRequest.Item})
			} else if old != nil {
				cs = append(cs, change{t: t, old: old})
			}
		}
		if c := capacity(in.ReturnConsumedCapacity, name, float64(len(in.RequestItems[name]))); c != nil {
			caps = append(caps, c)
		}
	}
	if err := db.commit(cs); err != nil {
		return nil, err
	}
	out := map[string]any{"UnprocessedItems": map[string]any{}}
	if caps != nil {
		out["ConsumedCapacity"] = caps
	}
	return out, nil
}

type batchGetInput struct {
	RequestItems map[string]struct {
		exprParams
		Keys                 []Item   `json:"Keys"`
		ProjectionExpression string   `json:"ProjectionExpression"`
		ConsistentRead       bool     `json:"ConsistentRead"`
		AttributesToGet      []string `json:"AttributesToGet"`
	} `json:"RequestItems"`
	ReturnConsumedCapacity string `json:"ReturnConsumedCapacity"`
}

func (db *DB) batchGet(in batchGetInput) (any, error) {
	n := 0
	for _, r := range in.RequestItems {
		n += len(r.Keys)
	}
	if n == 0 {
		return nil, validation("1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if n > 100 {
		return nil, validation("Too many items requested for the BatchGetItem call")
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	resp := map[string][]Item{}
	var caps []*consumed
	for _, name := range sortedKeys(in.RequestItems) {
		r := in.RequestItems[name]
		t, err := db.table(name)
		if err != nil {
			return nil, err
		}
		if err := r.check(); err != nil {
			return nil, err
		}
		u := newUsage()
		proj, err := projection(r.ProjectionExpression, r.AttributesToGet, r.ExpressionAttributeNames, u)
		if err != nil {
			return nil, err
		}
		if err := u.check(r.ExpressionAttributeNames, r.ExpressionAttributeValues); err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		items := []Item{}
		for _, k := range r.Keys {
			if err := t.checkKey(k); err != nil {
				return nil, err
			}
			tk := t.tkey(k)
			if seen[tk] {
				return nil, validation("Provided list of item keys contains duplicates")
			}
			seen[tk] = true
			if it := t.get(k); it != nil {
				items = append(items, project(it, proj))
			}
		}
		resp[name] = items
		if c := capacity(in.ReturnConsumedCapacity, name, float64(len(r.Keys))); c != nil {
			caps = append(caps, c)
		}
	}
	out := map[string]any{"Responses": resp, "UnprocessedKeys": map[string]any{}}
	if caps != nil {
		out["ConsumedCapacity"] = caps
	}
	return out, nil
}

// ---- transactions

type transactWriteInput struct {
	TransactItems []struct {
		ConditionCheck *keyInput `json:"ConditionCheck"`
		Put            *putInput `json:"Put"`
		Delete         *keyInput `json:"Delete"`
		Update         *keyInput `json:"Update"`
	} `json:"TransactItems"`
	ClientRequestToken     string `json:"ClientRequestToken"`
	ReturnConsumedCapacity string `json:"ReturnConsumedCapacity"`
}

func (db *DB) transactWrite(in transactWriteInput) (any, error) {
	if len(in.TransactItems) == 0 || len(in.TransactItems) > 100 {
		return nil, validation("1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100, Member must have length greater than or equal to 1")
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	ws := make([]*preparedWrite, len(in.TransactItems))
	seen := map[string]bool{}
	for i, ti := range in.TransactItems {
		var w *preparedWrite
		var err error
		count := 0
		for _, x := range []bool{ti.ConditionCheck != nil, ti.Put != nil, ti.Delete != nil, ti.Update != nil} {
			if x {
				count++
			}
		}
		if count != 1 {
			return nil, validation("TransactItems can only contain one of Check, Put, Update or Delete")
		}
		switch {
		case ti.Put != nil:
			t, e := db.table(ti.Put.TableName)
			if e != nil {
				return nil, e
			}
			w, err = db.preparePut(t, *ti.Put)
		case ti.Update != nil:
			t, e := db.table(ti.Update.TableName)
			if e != nil {
				return nil, e
			}
			if ti.Update.UpdateExpression == "" {
				return nil, validation("1 validation error detected: Value null at 'transactItems." + fmt.Sprint(i+1) + ".member.update.updateExpression' failed to satisfy constraint: Member must not be null")
			}
			w, err = db.prepareKeyed(t, *ti.Update, "update")
		case ti.Delete != nil:
			t, e := db.table(ti.Delete.TableName)
			if e != nil {
				return nil, e
			}
			w, err = db.prepareKeyed(t, *ti.Delete, "delete")
		default:
			t, e := db.table(ti.ConditionCheck.TableName)
			if e != nil {
				return nil, e
			}
			w, err = db.prepareKeyed(t, *ti.ConditionCheck, "check")
		}
		if err != nil {
			return nil, err
		}
		id := w.t.meta.Name + "\x02" + w.t.tkey(w.key)
		if seen[id] {
			return nil, validation("Transaction request cannot include multiple operations on one item")
		}
		seen[id] = true
		ws[i] = w
	}
	reasons := make([]CancellationReason, len(ws))
	failed := false
	var cs []change
	for i, w := range ws {
		old, n, _, err := w.evaluate()
		reasons[i] = CancellationReason{Code: "None"}
		if err != nil {
			failed = true
			if ae, ok := err.(*APIError); ok && ae.Type == "ConditionalCheckFailedException" {
				reasons[i] = CancellationReason{Code: "ConditionalCheckFailed", Message: "The conditional request failed", Item: ae.Item}
			} else if ae, ok := err.(*APIError); ok && ae.Type == "ValidationException" {
				reasons[i] = CancellationReason{Code: "ValidationError", Message: ae.Message}
			} else {
				return nil, err
			}
			continue
		}
		switch {
		case w.check:
		case w.del:
			if old != nil {
				cs = append(cs, change{t: w.t, old: old})
			}
		default:
			cs = append(cs, change{t: w.t, old: old, new: n})
		}
	}
	if failed {
		codes := make([]string, len(reasons))
		for i, r := range reasons {
			codes[i] = r.Code
		}
		return nil, &APIError{Type: "TransactionCanceledException", Message: "Transaction cancelled, please refer cancellation reasons for specific reasons [" + strings.Join(codes, ", ") + "]", Status: 400, Reasons: reasons}
	}
	if err := db.commit(cs); err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}

type transactGetInput struct {
	TransactItems []struct {
		Get *keyInput `json:"Get"`
	} `json:"TransactItems"`
}

func (db *DB) transactGet(in transactGetInput) (any, error) {
	if len(in.TransactItems) == 0 || len(in.TransactItems) > 100 {
		return nil, validation("1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100, Member must have length greater than or equal to 1")
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	var resp []map[string]any
	for _, ti := range in.TransactItems {
		g := ti.Get
		if g == nil {
			return nil, validation("TransactItems can only contain Get")
		}
		t, err := db.table(g.TableName)
		if err != nil {
			return nil, err
		}
		if err := g.check(); err != nil {
			return nil, err
		}
		u := newUsage()
		proj, err := projection(g.ProjectionExpression, nil, g.ExpressionAttributeNames, u)
		if err != nil {
			return nil, err
		}
		if err := u.check(g.ExpressionAttributeNames, g.ExpressionAttributeValues); err != nil {
			return nil, err
		}
		if err := t.checkKey(g.Key); err != nil {
			return nil, err
		}
		r := map[string]any{}
		if it := t.get(g.Key); it != nil {
			r["Item"] = project(it, proj)
		}
		resp = append(resp, r)
	}
	return map[string]any{"Responses": resp}, nil
}

// ---- tags

type tagInput struct {
	ResourceArn string   `json:"ResourceArn"`
	Tags        []Tag    `json:"Tags"`
	TagKeys     []string `json:"TagKeys"`
}

func (db *DB) tableByARN(arn string) (*table, error) {
	i := strings.Index(arn, ":table/")
	if i < 0 {
		return nil, validation("Invalid TableArn")
	}
	name, _, _ := strings.Cut(arn[i+len(":table/"):], "/")
	return db.table(name)
}

func (db *DB) tagResource(in tagInput, untag bool) (any, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	t, err := db.tableByARN(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	m := t.meta
	tags := map[string]string{}
	for _, tg := range m.Tags {
		tags[tg.Key] = tg.Value
	}
	for _, tg := range in.Tags {
		tags[tg.Key] = tg.Value
	}
	if untag {
		for _, k := range in.TagKeys {
			delete(tags, k)
		}
	}
	m.Tags = nil
	for _, k := range sortedKeys(tags) {
		m.Tags = append(m.Tags, Tag{k, tags[k]})
	}
	if err := db.j.Append(logEntry{Op: "table", Table: &m}); err != nil {
		return nil, err
	}
	t.meta = m
	return map[string]any{}, nil
}

func (db *DB) listTags(in tagInput) (any, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	t, err := db.tableByARN(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	tags := t.meta.Tags
	if tags == nil {
		tags = []Tag{}
	}
	return map[string]any{"Tags": tags}, nil
}
