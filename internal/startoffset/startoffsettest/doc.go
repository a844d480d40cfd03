// Package startoffsettest makes, for tests, the race startoffset.List is
// built against: a partition that is empty when its offset by time is
// looked up and gets its first records between the lookup's two requests.
//
// Test code only: nothing outside tests imports it.
package startoffsettest
