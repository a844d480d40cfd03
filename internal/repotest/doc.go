// Package repotest holds tests about the repository as a whole (every package
// documents itself, ...). It has no code of its own and nothing imports it.
package repotest
