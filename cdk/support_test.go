package cdk

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/cloudformationinclude"
	"github.com/aws/jsii-runtime-go"
	jsiiruntime "github.com/aws/jsii-runtime-go/runtime"
)

// A template whose resource repeats a key: JSON.parse takes the last
// value, the YAML parser refuses the map. Whether CfnInclude accepts it
// shows which reader it used.
const repeatedKey = `{"Resources":{"Fn":{"Type":"AWS::Lambda::Function","Properties":{"Handler":"first","Handler":"bootstrap","Runtime":"provided.al2023","Role":"arn:aws:iam::123456789012:role/r","Code":{"ZipFile":"x"}}}}}`

// TestFragmentReadAsJSON checks that CfnInclude reads the construct's
// fragments with JSON.parse once the support package is loaded (the speed
// of synth depends on it), and leaves every other file to its YAML
// reader: a file of another name fails there as it always did.
func TestFragmentReadAsJSON(t *testing.T) {
	loadSupport()
	var installed bool
	jsiiruntime.StaticInvoke(supportFQN, "jsonReader", nil, &installed)
	if !installed {
		t.Error("Support.jsonReader() is false: the module did not find CfnInclude's reader in this aws-cdk-lib")
	}
	include := func(name string) (fn awslambda.CfnFunction, err error) {
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, []byte(repeatedKey), 0o644); err != nil {
			t.Fatal(err)
		}
		stack := awscdk.NewStack(awscdk.NewApp(nil), jsii.String("S"), nil)
		defer func() {
			if r := recover(); r != nil {
				err, _ = r.(error)
				if err == nil {
					t.Fatalf("include %s: panic %v", name, r)
				}
			}
		}()
		inc := cloudformationinclude.NewCfnInclude(stack, jsii.String("T"), &cloudformationinclude.CfnIncludeProps{TemplateFile: jsii.String(path)})
		return inc.GetResource(jsii.String("Fn")).(awslambda.CfnFunction), nil
	}

	fn, err := include("nanopipe-123.template.json")
	if err != nil {
		t.Fatalf("the fragment was not read as JSON: %v", err)
	}
	if got := *fn.Handler(); got != "bootstrap" {
		t.Errorf("Handler %q, want the last value, bootstrap", got)
	}
	if _, err := include("other.template.json"); err == nil || !strings.Contains(err.Error(), "Map keys must be unique") {
		t.Errorf("another file: error %v, want the YAML reader's refusal of the repeated key", err)
	}
}

// TestSupportTarball checks the package is the same bytes every time
// (the kernel caches packages by content).
func TestSupportTarball(t *testing.T) {
	a, b := supportTarball(), supportTarball()
	if string(a) != string(b) {
		t.Error("two builds of the support package differ")
	}
}
