package dynamosrv

import (
	"hash/fnv"
	"sort"
	"time"
)

// KeyDef is a key attribute: name and type (S, N or B).
type KeyDef struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Projection says what an index carries of each item.
type Projection struct {
	Type   string   `json:"type"` // ALL, KEYS_ONLY, INCLUDE
	NonKey []string `json:"nonKey,omitempty"`
}

type indexMeta struct {
	Name       string     `json:"name"`
	PK         KeyDef     `json:"pk"`
	SK         *KeyDef    `json:"sk,omitempty"`
	Projection Projection `json:"projection"`
	Local      bool       `json:"local,omitempty"`
	RCU        int64      `json:"rcu,omitempty"`
	WCU        int64      `json:"wcu,omitempty"`
}

type tableMeta struct {
	Name        string      `json:"name"`
	ID          string      `json:"id"`
	Created     time.Time   `json:"created"`
	AttrDefs    []KeyDef    `json:"attrs"`
	PK          KeyDef      `json:"pk"`
	SK          *KeyDef     `json:"sk,omitempty"`
	Indexes     []indexMeta `json:"indexes,omitempty"`
	Billing     string      `json:"billing"`
	RCU         int64       `json:"rcu,omitempty"`
	WCU         int64       `json:"wcu,omitempty"`
	StreamView  string      `json:"streamView,omitempty"` // "" when the stream is off
	StreamARN   string      `json:"streamArn,omitempty"`  // latest stream, also after it was turned off
	TTLAttr     string      `json:"ttlAttr,omitempty"`
	TTLEnabled  bool        `json:"ttlEnabled,omitempty"`
	Protected   bool        `json:"protected,omitempty"`
	BillingTime time.Time   `json:"billingTime,omitempty"`
	Tags        []Tag       `json:"tags,omitempty"`
}

// Tag is a resource tag.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// row is an item as a key space holds it.
type row struct {
	item Item
	pk   *Value
	sk   *Value
	tkey string // the table's primary key, encoded: the identity of the item
}

type part struct {
	pk   *Value
	enc  string
	hash uint32
	rows []*row // ordered by sort key, then tkey
}

// space is a set of items under one key schema: the table, or an index.
type space struct {
	pk, sk string
	parts  map[string]*part
	order  []*part // by hash, for scans; nil when stale
	count  int
	bytes  int64
}

func newSpace(pk, sk string) *space { return &space{pk: pk, sk: sk, parts: map[string]*part{}} }

func encKey(v *Value) string {
	return v.K.String() + "\x00" + v.Str
}

func hash32(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

func rowLess(a, b *row) bool {
	if a.sk != nil && b.sk != nil {
		if n, _ := compare(a.sk, b.sk); n != 0 {
			return n < 0
		}
	}
	return a.tkey < b.tkey
}

func (s *space) insert(r *row) {
	enc := encKey(r.pk)
	p := s.parts[enc]
	if p == nil {
		p = &part{pk: r.pk, enc: enc, hash: hash32(enc)}
		s.parts[enc] = p
		s.order = nil
	}
	i := sort.Search(len(p.rows), func(i int) bool { return !rowLess(p.rows[i], r) })
	p.rows = append(p.rows, nil)
	copy(p.rows[i+1:], p.rows[i:])
	p.rows[i] = r
	s.count++
	s.bytes += int64(r.item.size())
}

func (s *space) remove(r *row) {
	enc := encKey(r.pk)
	p := s.parts[enc]
	if p == nil {
		return
	}
	i := sort.Search(len(p.rows), func(i int) bool { return !rowLess(p.rows[i], r) })
	if i < len(p.rows) && p.rows[i].tkey == r.tkey {
		p.rows = append(p.rows[:i], p.rows[i+1:]...)
		s.count--
		s.bytes -= int64(r.item.size())
	}
	if len(p.rows) == 0 {
		delete(s.parts, enc)
		s.order = nil
	}
}

func (s *space) ordered() []*part {
	if s.order == nil {
		s.order = make([]*part, 0, len(s.parts))
		for _, p := range s.parts {
			s.order = append(s.order, p)
		}
		sort.Slice(s.order, func(i, j int) bool {
			a, b := s.order[i], s.order[j]
			if a.hash != b.hash {
				return a.hash < b.hash
			}
			return a.enc < b.enc
		})
	}
	return s.order
}

type index struct {
	meta  indexMeta
	space *space
}

type table struct {
	meta    tableMeta
	items   map[string]Item // by tkey
	primary *space
	indexes []*index
}

func newTable(m tableMeta) *table {
	t := &table{meta: m, items: map[string]Item{}}
	sk := ""
	if m.SK != nil {
		sk = m.SK.Name
	}
	t.primary = newSpace(m.PK.Name, sk)
	for _, im := range m.Indexes {
		isk := ""
		if im.SK != nil {
			isk = im.SK.Name
		}
		t.indexes = append(t.indexes, &index{meta: im, space: newSpace(im.PK.Name, isk)})
	}
	return t
}

func (t *table) keyNames() []string {
	if t.meta.SK != nil {
		return []string{t.meta.PK.Name, t.meta.SK.Name}
	}
	return []string{t.meta.PK.Name}
}

// tkey encodes an item's primary key.
func (t *table) tkey(item Item) string {
	k := encKey(item[t.meta.PK.Name])
	if t.meta.SK != nil {
		k += "\x01" + encKey(item[t.meta.SK.Name])
	}
	return k
}

// keyOf returns the primary key attributes of an item.
func (t *table) keyOf(item Item) Item {
	k := Item{t.meta.PK.Name: item[t.meta.PK.Name]}
	if t.meta.SK != nil {
		k[t.meta.SK.Name] = item[t.meta.SK.Name]
	}
	return k
}

// checkKey validates a Key parameter: exactly the key attributes, typed.
func (t *table) checkKey(key Item) error {
	want := 1
	if t.meta.SK != nil {
		want = 2
	}
	if len(key) != want {
		return validation("The provided key element does not match the schema")
	}
	for _, kd := range t.keyDefs() {
		v := key[kd.Name]
		if v == nil || v.K.String() != kd.Type {
			return validation("The provided key element does not match the schema")
		}
		if (v.K == KS || v.K == KB) && v.Str == "" {
			return validation("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty " + map[Kind]string{KS: "string", KB: "binary"}[v.K] + " value. Key: " + kd.Name)
		}
	}
	return t.checkKeySizes(key)
}

// checkKeySizes enforces DynamoDB's limits on key values: 2048 bytes for a
// partition key, 1024 for a sort key.
func (t *table) checkKeySizes(item Item) error {
	for i, kd := range t.keyDefs() {
		if v := item[kd.Name]; v != nil && len(v.Str) > []int{2048, 1024}[i] {
			return validation("One or more parameter values were invalid: Hash primary key values must be under 2048 bytes, and range primary key values must be under 1024 bytes")
		}
	}
	return nil
}

func (t *table) keyDefs() []KeyDef {
	if t.meta.SK != nil {
		return []KeyDef{t.meta.PK, *t.meta.SK}
	}
	return []KeyDef{t.meta.PK}
}

// checkItem validates an item to store: key attributes present and typed,
// index keys typed, size within 400 KB.
func (t *table) checkItem(item Item) error {
	for _, v := range item {
		if err := validateValue(v); err != nil {
			return validation(err.Error())
		}
	}
	for _, kd := range t.keyDefs() {
		v := item[kd.Name]
		if v == nil {
			return validation("One or more parameter values were invalid: Missing the key " + kd.Name + " in the item")
		}
		if v.K.String() != kd.Type {
			return validation("One or more parameter values were invalid: Type mismatch for key " + kd.Name + " expected: " + kd.Type + " actual: " + v.K.String())
		}
		if (v.K == KS || v.K == KB) && v.Str == "" {
			return validation("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty " + map[Kind]string{KS: "string", KB: "binary"}[v.K] + " value. Key: " + kd.Name)
		}
	}
	for _, ix := range t.indexes {
		for _, kd := range []*KeyDef{&ix.meta.PK, ix.meta.SK} {
			if kd == nil {
				continue
			}
			if v := item[kd.Name]; v != nil {
				if v.K.String() != kd.Type {
					return validation("One or more parameter values were invalid: Type mismatch for Index Key " + kd.Name + " Expected: " + kd.Type + " Actual: " + v.K.String() + " IndexName: " + ix.meta.Name)
				}
				if (v.K == KS || v.K == KB) && v.Str == "" {
					return validation("One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty string value. IndexName: " + ix.meta.Name + ", IndexKey: " + kd.Name)
				}
			}
		}
	}
	if item.size() > 400*1024 {
		return itemInvalid("Item size has exceeded the maximum allowed size")
	}
	return t.checkKeySizes(item)
}

func (t *table) rowFor(s *space, item Item, tkey string) *row {
	r := &row{item: item, pk: item[s.pk], tkey: tkey}
	if s.sk != "" {
		r.sk = item[s.sk]
	}
	return r
}

// put stores item (replacing any item with its key) and returns the old one.
func (t *table) put(item Item) Item {
	tk := t.tkey(item)
	old := t.items[tk]
	if old != nil {
		t.unindex(old, tk)
	}
	t.items[tk] = item
	t.primary.insert(t.rowFor(t.primary, item, tk))
	for _, ix := range t.indexes {
		if r := t.rowFor(ix.space, item, tk); ix.holds(r) {
			ix.space.insert(r)
		}
	}
	return old
}

func (t *table) unindex(old Item, tk string) {
	t.primary.remove(t.rowFor(t.primary, old, tk))
	for _, ix := range t.indexes {
		if r := t.rowFor(ix.space, old, tk); ix.holds(r) {
			ix.space.remove(r)
		}
	}
}

// del removes the item with the key and returns it.
func (t *table) del(key Item) Item {
	tk := t.tkey(key)
	old := t.items[tk]
	if old != nil {
		t.unindex(old, tk)
		delete(t.items, tk)
	}
	return old
}

func (t *table) get(key Item) Item { return t.items[t.tkey(key)] }

func (t *table) indexNamed(name string) *index {
	for _, ix := range t.indexes {
		if ix.meta.Name == name {
			return ix
		}
	}
	return nil
}

// projectIndex returns what an index carries of an item.
func (t *table) projectIndex(ix *index, item Item) Item {
	if ix == nil || ix.meta.Projection.Type == "ALL" || ix.meta.Projection.Type == "" {
		return item
	}
	out := t.keyOf(item)
	out[ix.meta.PK.Name] = item[ix.meta.PK.Name]
	if ix.meta.SK != nil {
		out[ix.meta.SK.Name] = item[ix.meta.SK.Name]
	}
	for _, n := range ix.meta.Projection.NonKey {
		if v := item[n]; v != nil {
			out[n] = v
		}
	}
	return out
}

// lastKey is the LastEvaluatedKey for a row of a space.
func (t *table) lastKey(ix *index, r *row) Item {
	k := t.keyOf(r.item)
	if ix != nil {
		k[ix.meta.PK.Name] = r.item[ix.meta.PK.Name]
		if ix.meta.SK != nil {
			k[ix.meta.SK.Name] = r.item[ix.meta.SK.Name]
		}
	}
	return k
}

// startRow makes the position an ExclusiveStartKey names.
func (t *table) startRow(s *space, ix *index, esk Item) (*row, error) {
	if esk == nil {
		return nil, nil
	}
	for _, kd := range t.keyDefs() {
		if v := esk[kd.Name]; v == nil || v.K.String() != kd.Type {
			return nil, validation("The provided starting key is invalid: The provided key element does not match the schema")
		}
	}
	r := &row{item: esk, pk: esk[s.pk], tkey: t.tkey(esk)}
	if s.sk != "" {
		r.sk = esk[s.sk]
	}
	if r.pk == nil || (s.sk != "" && r.sk == nil) {
		return nil, validation("The provided starting key is invalid: The provided key element does not match the schema")
	}
	return r, nil
}
