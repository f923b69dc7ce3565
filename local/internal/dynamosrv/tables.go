package dynamosrv

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

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
