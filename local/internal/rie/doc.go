// Package rie runs an app's real Lambda binary locally: the `bootstrap`
// the cdk package deploys, each function under AWS's Runtime Interface
// Emulator (aws-lambda-rie), so that the local environment exercises the
// same entry path as Lambda — App.Main, the environment contract, the
// Runtime API, the JSON the runtime writes back — instead of calling the
// stages in-process.
//
// # Building
//
// Build compiles the app's Lambda main exactly as the cdk package does
// (GOOS=linux, CGO_ENABLED=0, -tags lambda.norpc -trimpath
// -buildvcs=false -ldflags='-s -w'), for the architecture of this machine
// so that it runs here.
//
// # Functions and slots
//
// A Runner serves every function of an app (one per stage, or per group).
// A function has up to Slots execution environments; each slot is one
// aws-lambda-rie process (both of its addresses on 127.0.0.1) running the
// bootstrap, started on first use (the cold start) and used for one
// invocation at a time, because the emulator serves one invocation at a
// time. The function's environment is what the cdk package would deploy:
// plumbing.FunctionEnvironment with local names, the stage's own
// variables, AWS_LAMBDA_FUNCTION_TIMEOUT and _MEMORY_SIZE, a region, and
// AWS_ENDPOINT_URL pointing the SDK (config.LoadDefaultConfig) at the
// local endpoint. The SDK uses path-style addressing for an IP endpoint
// by itself, so the runtime needs no option for it.
//
// After a timeout or a crash the slot's processes are stopped and the
// next invocation starts them again, as Lambda replaces an execution
// environment that timed out or whose runtime exited.
//
// # Who is calling
//
// Each slot runs with its own AWS_SDK_UA_APP_ID, which the SDK writes
// into the User-Agent of every request (see Runner.Caller and
// access.AppID), so that the local endpoint knows which function and
// stage a request comes from and can enforce the stage's declared
// accesses, as IAM does with the function's role. The credentials stay
// the local environment's usual ones, which servers checking signatures
// (versitygw) and DynamoDB Local (a database per access key) expect.
//
// # Swapping the binary
//
// Hold stops new invocations from starting (they wait); Swap replaces the
// bootstrap: idle slots are stopped at once, busy ones after their
// invocation, and the next invocation of each slot cold-starts the new
// binary. Nothing queued in the engine is touched. `dev --watch` rebuilds
// with Hold and Swap.
//
// # Results
//
// The emulator answers a handler error with HTTP 200 and
// {"errorMessage","errorType"}, a crash of the runtime with 502, a
// timeout (AWS_LAMBDA_FUNCTION_TIMEOUT, whole seconds) with 200 and "Task
// timed out after N.00 seconds". Invoke turns them into the errors the
// engine's in-process path gives for the same input: the error message of
// the stage (*FunctionError), and a *TimeoutError. A partial batch
// response says which stream records failed but not why; the runtime logs
// the first failed record's error (failreason.LogMessage), and Invoke
// waits for that line in the function's output and hands the reason to the
// failreason.Recorder in its context, as the in-process runtime does.
package rie
