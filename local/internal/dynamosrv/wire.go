package dynamosrv

import "time"

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
