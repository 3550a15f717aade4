// Benchmarks of healthcode's EU DCC verifier against github.com/stapelberg/coronaqr
// on the EU test vectors. A module of its own, so that coronaqr never becomes a
// dependency of healthcode. See README.md.
module healthcode/bench/coronaqr

go 1.26.8

require healthcode v0.0.0-00010101000000-000000000000

require (
	github.com/dasio/base45 v1.0.1 // indirect
	github.com/fxamacker/cbor/v2 v2.10.0 // indirect
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.2 // indirect
	github.com/x448/float16 v0.8.4 // indirect
	golang.org/x/text v0.43.0 // indirect
)

replace healthcode => ../..

// coronaqr was written against this go-cose; healthcode's DCC package does not
// use go-cose, so the two build together.
replace github.com/veraison/go-cose => github.com/veraison/go-cose v0.0.0-20201125131510-de93f6091ed4
