// Package proc answers what pf needs to know about other processes: is a
// process still running (so that what a killed pf left behind can be
// cleaned up, and only that).
package proc
