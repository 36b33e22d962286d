// Command startfloor does nothing: pf-bench times it as a whole process
// beside `pf log`, so the report can say how much of pf's start-up is the
// Go runtime's own (exec, the runtime's set-up, exit) on the machine that
// ran it, and how much is pf's.
package main

func main() {}
