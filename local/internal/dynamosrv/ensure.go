package dynamosrv

import "fmt"

// IndexMismatchError reports a declared secondary index that an existing
// table cannot get in place: a local index the table was created without
// (DynamoDB creates local indexes only with their table), or an index
// whose keys differ from the declaration (DynamoDB cannot change an
// index's keys).
type IndexMismatchError struct {
	Table, Index string
	Local        bool
	// Have is the index the table has under the name, nil when it has none.
	Have *Index
	// Want is the declared index.
	Want Index
}

func (e *IndexMismatchError) Error() string {
	if e.Have == nil {
		return fmt.Sprintf("table %s exists without its declared local index %s (%s), and a local secondary index can only be created with its table", e.Table, e.Index, describeKeys(e.Want))
	}
	kind := "global"
	if e.Have.Local {
		kind = "local"
	}
	return fmt.Sprintf("table %s has a %s index %s keyed %s, but the declaration keys it %s, and an index's keys cannot be changed", e.Table, kind, e.Index, describeKeys(*e.Have), describeKeys(e.Want))
}

func describeKeys(ix Index) string {
	s := "partition " + ix.PK.Name + " (" + ix.PK.Type + ")"
	if ix.SK != nil {
		s += ", sort " + ix.SK.Name + " (" + ix.SK.Type + ")"
	}
	if ix.Local {
		s += ", local"
	}
	return s
}

func sameKeys(a, b Index) bool {
	if a.PK != b.PK || a.Local != b.Local || (a.SK == nil) != (b.SK == nil) {
		return false
	}
	return a.SK == nil || *a.SK == *b.SK
}

// MissingIndexes compares the secondary indexes a table has with the
// declared ones, and returns the declared global indexes it lacks, in
// declaration order. A declared local index the table lacks, or an index
// keyed otherwise than declared, is an *IndexMismatchError. Indexes the
// table has beyond the declaration are left alone.
func MissingIndexes(table string, have, want []Index) ([]Index, error) {
	var missing []Index
	for _, w := range want {
		var h *Index
		for i := range have {
			if have[i].Name == w.Name {
				h = &have[i]
				break
			}
		}
		switch {
		case h == nil && w.Local:
			return nil, &IndexMismatchError{Table: table, Index: w.Name, Local: true, Want: w}
		case h == nil:
			missing = append(missing, w)
		case !sameKeys(*h, w):
			return nil, &IndexMismatchError{Table: table, Index: w.Name, Local: w.Local, Have: h, Want: w}
		}
	}
	return missing, nil
}

// Indexes returns the secondary indexes of a table.
func (db *DB) Indexes(table string) ([]Index, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	t, err := db.table(table)
	if err != nil {
		return nil, err
	}
	var out []Index
	for _, im := range t.meta.Indexes {
		ix := Index{Name: im.Name, PK: im.PK, Local: im.Local}
		if im.SK != nil {
			sk := *im.SK
			ix.SK = &sk
		}
		out = append(out, ix)
	}
	return out, nil
}

// addIndexes creates the declared global indexes an existing table lacks,
// filling each from the items the table holds, and refuses a declared
// local index it lacks (see MissingIndexes).
func (db *DB) addIndexes(t Table) error {
	have, err := db.Indexes(t.Name)
	if err != nil {
		return err
	}
	missing, err := MissingIndexes(t.Name, have, t.Indexes)
	if err != nil {
		return err
	}
	for _, ix := range missing {
		db.mu.RLock()
		defs := map[string]string{}
		for _, d := range db.tables[t.Name].meta.AttrDefs {
			defs[d.Name] = d.Type
		}
		db.mu.RUnlock()
		in := updateTableInput{TableName: t.Name}
		ii := indexInput{IndexName: ix.Name, Projection: projectionJSON{ProjectionType: "ALL"}}
		for _, k := range []struct {
			d    *KeyDef
			role string
		}{{&ix.PK, "HASH"}, {ix.SK, "RANGE"}} {
			if k.d == nil {
				continue
			}
			if typ, ok := defs[k.d.Name]; ok && typ != k.d.Type {
				return fmt.Errorf("table %s defines attribute %s as %s, and index %s declares it %s: an attribute has one key type", t.Name, k.d.Name, typ, ix.Name, k.d.Type)
			}
			ii.KeySchema = append(ii.KeySchema, keySchemaElement{k.d.Name, k.role})
			in.AttributeDefinitions = append(in.AttributeDefinitions, attributeDefinition{k.d.Name, k.d.Type})
		}
		in.GlobalSecondaryIndexUpdates = []indexUpdate{{Create: &struct{ indexInput }{ii}}}
		if _, err := db.updateTable(in); err != nil {
			return fmt.Errorf("add global index %s to table %s: %w", ix.Name, t.Name, err)
		}
	}
	return nil
}

// holds reports whether the index holds a row: one with the index's key
// attributes, typed as the index declares them.
func (ix *index) holds(r *row) bool {
	return keyTyped(r.pk, &ix.meta.PK) && (ix.meta.SK == nil || keyTyped(r.sk, ix.meta.SK))
}

// keyTyped reports whether an item's value for an index key has the key's
// type; DynamoDB leaves an item whose value has another type out of the
// index (it can only hold such an item when the index was added later).
func keyTyped(v *Value, kd *KeyDef) bool {
	return v != nil && v.K.String() == kd.Type
}
