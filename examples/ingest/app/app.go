// Package app declares the ingest pipeline: CSV and JSON-lines uploads
// under incoming/ are loaded into the customers table in batches, invalid
// rows reported next to the upload; the table's stream welcomes every new
// customer on the pro plan, and customers removed from the table are
// archived to the bucket.
package app

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"

	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/stages"
	"github.com/nanopipe/nanopipe/triggers"
)

// App is the ingest pipeline. The Lambda main, the local command and the
// cdk app all import it.
var App = pipeline.New("ingest")

// Resources.
var (
	Uploads   = App.Bucket("ingest-uploads")
	Customers = App.Table("customers", pipeline.PartitionKey("id", pipeline.String))
	Welcomes  = App.Table("welcomes", pipeline.PartitionKey("id", pipeline.String))
)

// Stages. A load reads a whole file, so it gets five minutes and memory
// (Lambda gives CPU and network in proportion); a file it cannot finish
// in time is resumed by the event's retry.
var (
	LoadCSV = stages.Load[Customer](App, "load-csv",
		Uploads.Created(triggers.Prefix("incoming/"), triggers.Suffix(".csv")),
		Customers, stages.Check(stampSource), stages.Writers(8),
	).Timeout(5 * time.Minute).Memory(1024)

	LoadJSONLines = stages.Load[Customer](App, "load-jsonl",
		Uploads.Created(triggers.Prefix("incoming/"), triggers.Suffix(".jsonl")),
		Customers, stages.Check(stampSource), stages.Writers(8),
	).Timeout(5 * time.Minute).Memory(1024)

	Welcome = pipeline.OnChange(App, "welcome",
		Customers.Changes(triggers.Insert, triggers.Where(triggers.NewImage("plan").Equals("pro")),
			triggers.BatchSize(100), triggers.Bisect()),
		WelcomeCustomer,
	).Writes(Welcomes)

	ArchiveRemoved = stages.Archive(App, "archive",
		Customers.Changes(triggers.Remove), Uploads, "archive/")
)

// Customer is a row of the uploads and an item of the customers table.
type Customer struct {
	ID      string `dynamodbav:"id" json:"id"`
	Name    string `dynamodbav:"name" json:"name"`
	Email   string `dynamodbav:"email" json:"email"`
	Country string `dynamodbav:"country" json:"country"`
	Plan    string `dynamodbav:"plan" json:"plan"`
	// Source is the upload the customer was loaded from.
	Source string `dynamodbav:"source" json:"-" csv:"-"`
}

// Plans customers can be on.
var Plans = []string{"free", "team", "pro"}

// Validate refuses rows that must not reach the table; Load reports them.
func (c Customer) Validate() error {
	var errs []error
	if c.ID == "" {
		errs = append(errs, errors.New("id is empty"))
	}
	if a, err := mail.ParseAddress(c.Email); err != nil || a.Address != c.Email {
		errs = append(errs, fmt.Errorf("email %q is not an address", c.Email))
	}
	if len(c.Country) != 2 || strings.ToUpper(c.Country) != c.Country {
		errs = append(errs, fmt.Errorf("country %q is not an ISO 3166 code such as DE", c.Country))
	}
	known := false
	for _, p := range Plans {
		known = known || c.Plan == p
	}
	if !known {
		errs = append(errs, fmt.Errorf("plan %q is not one of %s", c.Plan, strings.Join(Plans, ", ")))
	}
	return errors.Join(errs...)
}

func stampSource(c *Customer, at stages.Row) error {
	c.Source = at.Source
	return nil
}

// Greeting is the message queued for a new pro customer.
type Greeting struct {
	ID      string `dynamodbav:"id"`
	Email   string `dynamodbav:"email"`
	Subject string `dynamodbav:"subject"`
}

// WelcomeCustomer queues the welcome of a new pro customer, once: the put
// is conditional on there being none, so a retried record changes nothing.
func WelcomeCustomer(ctx context.Context, c triggers.Change[Customer]) error {
	w := Greeting{ID: c.New.ID, Email: c.New.Email, Subject: "Welcome to Pro, " + c.New.Name}
	err := Welcomes.Put(ctx, w, pipeline.If(expression.AttributeNotExists(expression.Name("id"))))
	if errors.Is(err, pipeline.ErrConditionFailed) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("welcome customer %s: %w", c.New.ID, err)
	}
	return nil
}
