// Package metrics is the CloudWatch part of hastack: it measures how much
// CPU each instance's process tree uses, straight from the operating
// system, and evaluates alarms that compare a metric, averaged per period,
// against a threshold.
//
// It measures and evaluates; acting on an alarm (scaling a group) is the
// caller's decision.
package metrics
