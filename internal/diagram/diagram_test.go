package diagram_test

import (
	"context"
	"testing"

	"github.com/nanopipe/nanopipe/internal/diagram"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

type order struct {
	ID     string `dynamodbav:"id"`
	Status string `dynamodbav:"status"`
}

func shop() *pipeline.App {
	a := pipeline.New("shop")
	in := a.Bucket("shop-in")
	orders := a.Table("orders", pipeline.PartitionKey("id", pipeline.String))
	pipeline.OnObject(a, "load", in.Created(triggers.Prefix("csv/"), triggers.Suffix(".csv")),
		func(context.Context, triggers.Object) error { return nil }).
		Reads(in.Keys("csv/", "")).Writes(orders, in.Keys("done/", "")).Deletes(in.Keys("csv/", ""))
	pipeline.OnChange(a, "ship", orders.Changes(triggers.Insert, triggers.Where(triggers.NewImage("status").Equals("paid"))),
		func(context.Context, triggers.Change[order]) error { return nil }).
		Reads(in.Keys("labels/", ""))
	return a
}

func TestMermaid(t *testing.T) {
	want := `%% The shop pipeline, generated from its declaration by internal/diagram; do not edit.
flowchart LR
  b_shop_in[/"bucket shop-in"/]
  t_orders[("table orders")]
  s_load("load")
  s_ship("ship")
  b_shop_in -- "created csv/*.csv" --> s_load
  s_load -- "writes" --> t_orders
  s_load -- "writes done/*" --> b_shop_in
  s_load -. "deletes csv/*" .-> b_shop_in
  t_orders -- "inserts; where status Equals(#quot;paid#quot;); batch 100" --> s_ship
  b_shop_in -. "reads labels/*" .-> s_ship
  classDef stage fill:#e8f0fe,stroke:#3b6fd8
  class s_load,s_ship stage
`
	if got := diagram.Mermaid(shop()); got != want {
		t.Errorf("Mermaid:\n%s\nwant:\n%s", got, want)
	}
}

func TestDOT(t *testing.T) {
	want := `// The shop pipeline, generated from its declaration by internal/diagram; do not edit.
digraph "shop" {
  rankdir=LR;
  node [fontname="Helvetica", fontsize=11];
  edge [fontname="Helvetica", fontsize=9];
  b_shop_in [shape=folder, label="bucket\nshop-in"];
  t_orders [shape=cylinder, label="table\norders"];
  s_load [shape=box, style="rounded,filled", fillcolor="#e8f0fe", color="#3b6fd8", label="load"];
  s_ship [shape=box, style="rounded,filled", fillcolor="#e8f0fe", color="#3b6fd8", label="ship"];
  b_shop_in -> s_load [label="created csv/*.csv"];
  s_load -> t_orders [label="writes"];
  s_load -> b_shop_in [label="writes done/*"];
  s_load -> b_shop_in [label="deletes csv/*", style=dashed];
  t_orders -> s_ship [label="inserts; where status Equals(\"paid\"); batch 100"];
  b_shop_in -> s_ship [label="reads labels/*", style=dotted];
}
`
	if got := diagram.DOT(shop()); got != want {
		t.Errorf("DOT:\n%s\nwant:\n%s", got, want)
	}
}
