// Package nats runs a pipeline's items on zpipe workers over NATS
// JetStream: the coordinator's Executor sends each item as a small JSON
// message on a work-queue stream, with its input in an object store, and
// takes each worker's Report and parts back, so that the engine assembles
// outputs and writes the journal exactly as a local run does. Workers
// (Worker, or `zpipe worker`) run items with engine.ItemFunc.
//
// Subjects: zpipe.work.<level>.<pipeline>.<stage>.<exec> carries work,
// one durable consumer per priority level (critical, high, normal, low),
// which workers poll with weights 8:4:2:1, since JetStream ranks pull
// requests and not messages; zpipe.result.<exec> carries reports;
// zpipe.cancel.<exec> stops an Execute's items on every worker.
package nats
