// Package template renders a model's chat template: the Jinja program in its
// tokenizer_config.json that turns a conversation into the exact prompt text
// the model was trained on. The output must match, byte for byte, what Hugging
// Face transformers' apply_chat_template renders, so the environment is set up
// as transformers sets up Python's Jinja2: trim_blocks and lstrip_blocks on,
// loop controls on, no template loader, and the globals raise_exception and
// strftime_now plus transformers' own tojson filter.
//
// The Jinja language itself comes from gonja (github.com/nikolalohinski/gonja/v2),
// a maintained Go port of Jinja2 that renders every chat template in the
// shared test data byte-identically. This package adds what transformers adds
// on top of Jinja2, fixes the gonja behaviours chat templates meet (Python's
// str.strip() and str.split() without arguments, the items filter), and
// guards against the templates that would crash gonja (guards.go).
//
// Where gonja still differs from Python's Jinja2 (testdata/python_cases.json
// and knownGaps in the tests list each case): none prints as "" rather than
// "None", a variable set to none counts as undefined, strings index by byte,
// and % string formatting is an error. And where Python raises MemoryError
// for a template that builds a string of absurd size ('x' * 10**12,
// center(10**12)), gonja tries to allocate it and the process dies: only
// parse templates from models you chose to run. Objects keep their key order only when
// they come from DecodeJSON or a template literal; a Go map, Message
// included, is read in sorted key order.
package template
