// Package coronaqr holds only benchmarks: healthcode's EU DCC verifier
// (internal/interop/dcc) against github.com/stapelberg/coronaqr on the EU
// test vectors. See README.md.
package coronaqr
